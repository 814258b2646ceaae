// Builds the collectives addon (native/build/Release/gradpool_collectives.node).
//
// Runs from `npm ci` (the package's install script) and `npm run build:native`.
// Optional parts are detected here: the gloo backend is compiled only when
// libgloo-dev's headers and library exist, and the NCCL/CUDA declarations are
// checked against real headers only when those are present. A failed build
// never fails the install: it prints a warning and the TypeScript wrapper
// reports the missing build when a communicator is created.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const nativeDir = resolve(here, '..');
const require = createRequire(import.meta.url);
const log = (msg) => console.log(`[gradpool] native: ${msg}`);
const strict = process.argv.includes('--strict') || process.env.GRADPOOL_NATIVE_STRICT === '1';

function firstExisting(paths) {
  return paths.find((p) => p && existsSync(p));
}

function findGloo() {
  if (process.env.GRADPOOL_DISABLE_GLOO === '1') return { skip: 'disabled by GRADPOOL_DISABLE_GLOO=1' };
  const incRoots = [process.env.GLOO_INCLUDE_DIR, '/usr/include', '/usr/local/include'];
  const include = incRoots.find((d) => d && existsSync(join(d, 'gloo/transport/tcp/device.h')));
  const libDirs = [process.env.GLOO_LIB_DIR, '/usr/lib', '/usr/lib/x86_64-linux-gnu',
    '/usr/lib/aarch64-linux-gnu', '/usr/local/lib'];
  const libdir = libDirs.find((d) => d && existsSync(join(d, 'libgloo.so')));
  if (!include || !libdir) {
    return { skip: `libgloo-dev not found (headers: ${include ?? 'missing'}, libgloo.so: ${libdir ?? 'missing'}); install it with apt-get install libgloo-dev or set GLOO_INCLUDE_DIR/GLOO_LIB_DIR` };
  }
  return { include, libdir };
}

function findSdkIncludes() {
  // Only for the compile-time check of our own NCCL/CUDA declarations.
  if (process.env.GRADPOOL_SKIP_SDK_CHECK === '1') return { dirs: [], cuda: false, nccl: false };
  const cudaHome = process.env.CUDA_HOME || '/usr/local/cuda';
  const cuda = firstExisting([join(cudaHome, 'include/cuda_runtime_api.h')]);
  const dirs = [];
  if (cuda) dirs.push(dirname(cuda));
  const ncclHeader = firstExisting([
    process.env.NCCL_INCLUDE_DIR && join(process.env.NCCL_INCLUDE_DIR, 'nccl.h'),
    join(cudaHome, 'include/nccl.h'), '/usr/include/nccl.h',
  ]);
  if (ncclHeader && !dirs.includes(dirname(ncclHeader))) dirs.push(dirname(ncclHeader));
  return { dirs, cuda: Boolean(cuda), nccl: Boolean(ncclHeader) };
}

function nodeGypBin() {
  try {
    return require.resolve('node-gyp/bin/node-gyp.js');
  } catch {
    return undefined;
  }
}

function main() {
  const gyp = nodeGypBin();
  let napiInclude;
  try {
    napiInclude = dirname(require.resolve('node-addon-api/package.json'));
  } catch {
    napiInclude = undefined;
  }
  if (!gyp || !napiInclude) {
    return fail(`node-gyp or node-addon-api is not installed (run npm ci)`);
  }
  const gloo = findGloo();
  if (gloo.skip) log(`skipping the gloo backend: ${gloo.skip}`);
  else log(`gloo backend: headers ${gloo.include}, library ${gloo.libdir}/libgloo.so`);
  const sdk = findSdkIncludes();
  log(sdk.cuda
    ? `checking NCCL/CUDA declarations against ${sdk.nccl ? 'nccl.h and ' : ''}cuda_runtime_api.h${sdk.nccl ? '' : ' (nccl.h not found: NCCL half skipped)'}`
    : 'no CUDA headers found: NCCL/CUDA declaration check skipped (the nccl backend is still built and loads libnccl at run time)');

  const env = {
    ...process.env,
    GRADPOOL_GYP_NAPI_INCLUDE: napiInclude,
    GRADPOOL_GYP_WITH_GLOO: gloo.skip ? '0' : '1',
    GRADPOOL_GYP_GLOO_INCLUDE: gloo.include ?? '',
    GRADPOOL_GYP_GLOO_LIBDIR: gloo.libdir ?? '',
    GRADPOOL_GYP_SDK_INCLUDES: sdk.dirs.join(':'),
  };
  const jobs = process.env.JOBS || 'max';
  const args = [gyp, 'rebuild', '--release', `--jobs=${jobs}`];
  // Use the headers installed next to this node binary (distro packages ship
  // them) instead of downloading a tarball, which fails on offline machines.
  const prefix = dirname(dirname(process.execPath));
  if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include/node/node_api.h'))) {
    args.push(`--nodedir=${prefix}`);
  }
  const r = spawnSync(process.execPath, args, {
    cwd: nativeDir, env, stdio: 'inherit',
  });
  if (r.status !== 0) return fail(`node-gyp exited with ${r.status ?? r.signal}`);
  const out = join(nativeDir, 'build/Release/gradpool_collectives.node');
  if (!existsSync(out)) return fail(`build finished but ${out} is missing`);
  log(`built ${out} (backends: shm, nccl [dlopen]${gloo.skip ? '' : ', gloo'})`);
  return 0;
}

function fail(reason) {
  const msg = `WARNING: the collectives addon was NOT built: ${reason}. ` +
    'Multi-worker training will fail with a clear error until it is built; ' +
    'fix the cause (a C++17 compiler, python3 and make are needed) and run `npm run build:native`.';
  console.warn(`[gradpool] native: ${msg}`);
  // An install must not fail because of the optional native part.
  return strict ? 1 : 0;
}

process.exitCode = main();
