// Builds the libtorch engine addon (native/torch/build/Release/gradpool_torch.node).
//
//   node native/torch/build.mjs [--strict] [--probe]
//
// Finds a libtorch, in this order:
//   1. GRADPOOL_LIBTORCH=/path/to/libtorch (an unpacked LibTorch zip: include/, lib/)
//   2. the torch Python package (pip wheels ship include/ and lib/; GPU nodes), from
//      GRADPOOL_TORCH_PYTHON, python3 or /usr/bin/python3
//   3. Debian's libtorch-dev (/usr/include/torch/csrc/api/include, /usr/lib/<triplet>/libtorch.so)
// No libtorch (or GRADPOOL_DISABLE_TORCH=1): prints why and exits 0, and the TypeScript wrapper
// names the missing build when the torch engine is requested. A failed compile exits 0 too
// (non-zero with --strict or GRADPOOL_TORCH_STRICT=1). Where nvidia-smi lists a GPU and the
// libtorch has no CUDA, it says so loudly (--strict: exit 1, before compiling). C++20 for
// torch >= 2.13 headers. --probe prints what it found as JSON and builds nothing.
import { cpuOnlyOnGpuMachine, cxxStandard, nvidiaGpus, torchVersion } from './build-checks.mjs';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const torchDir = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const log = (msg) => console.log(`[gradpool] torch: ${msg}`);
const strict = process.argv.includes('--strict') || process.env.GRADPOOL_TORCH_STRICT === '1';
const probeOnly = process.argv.includes('--probe');

function libsIn(libdir) {
  const has = (n) => existsSync(join(libdir, `lib${n}.so`));
  const libs = ['-ltorch', '-ltorch_cpu', '-lc10'];
  const cuda = ['torch_cuda', 'c10_cuda'].filter(has);
  // libtorch_cuda registers the CUDA backend from static initialisers: keep it even though no
  // symbol of ours references it.
  if (cuda.length) libs.push('-Wl,--no-as-needed', ...cuda.map((n) => `-l${n}`), '-Wl,--as-needed');
  return { libs, cuda: cuda.length > 0 };
}

function fromFolder(root, source) {
  const api = join(root, 'include/torch/csrc/api/include');
  const libdir = join(root, 'lib');
  if (!existsSync(join(api, 'torch/version.h')) || !existsSync(join(libdir, 'libtorch.so'))) return undefined;
  let abi;
  const cfg = join(root, 'share/cmake/Torch/TorchConfig.cmake');
  if (existsSync(cfg)) abi = /_GLIBCXX_USE_CXX11_ABI=([01])/.exec(readFileSync(cfg, 'utf8'))?.[1];
  return { source, includes: [join(root, 'include'), api], libdir, abi };
}

function fromPython() {
  const pys = [process.env.GRADPOOL_TORCH_PYTHON, 'python3', '/usr/bin/python3'].filter(Boolean);
  const code = 'import json, os, torch; print(json.dumps({"root": os.path.dirname(torch.__file__), ' +
    '"abi": int(torch._C._GLIBCXX_USE_CXX11_ABI), "version": torch.__version__}))';
  for (const py of pys) {
    const r = spawnSync(py, ['-c', code], { encoding: 'utf8' });
    if (r.status !== 0) continue;
    try {
      const info = JSON.parse(r.stdout.trim().split('\n').pop());
      const found = fromFolder(info.root, `torch ${info.version} Python package (${py})`);
      if (found) return { ...found, abi: String(info.abi) };
    } catch {
      // not this one
    }
  }
  return undefined;
}

function fromDebian() {
  const api = '/usr/include/torch/csrc/api/include';
  if (!existsSync(join(api, 'torch/version.h'))) return undefined;
  const libdir = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib']
    .find((d) => existsSync(join(d, 'libtorch.so')));
  if (!libdir) return undefined;
  return { source: 'libtorch-dev (system)', includes: [api], libdir, abi: undefined };
}

function findLibtorch() {
  if (process.env.GRADPOOL_DISABLE_TORCH === '1') return { skip: 'disabled by GRADPOOL_DISABLE_TORCH=1' };
  if (process.env.GRADPOOL_LIBTORCH) {
    const f = fromFolder(process.env.GRADPOOL_LIBTORCH, `GRADPOOL_LIBTORCH=${process.env.GRADPOOL_LIBTORCH}`);
    if (f) return f;
    return { skip: `GRADPOOL_LIBTORCH=${process.env.GRADPOOL_LIBTORCH} has no include/torch/csrc/api/include/torch/version.h or lib/libtorch.so` };
  }
  return fromPython() ?? fromDebian() ?? {
    skip: 'no libtorch found (install Debian\'s libtorch-dev, pip install torch, or set GRADPOOL_LIBTORCH=/path/to/libtorch)',
  };
}

function main() {
  const found = findLibtorch();
  const gpus = nvidiaGpus();
  if (found.skip) {
    log(`SKIPPED: the torch engine addon is not built: ${found.skip}. The tfjs engines are unaffected; ` +
      '`--engine torch` will report the missing build.');
    if (gpus.length > 0) console.warn(`[gradpool] torch: WARNING: nvidia-smi lists ${gpus.length} GPU(s) and no libtorch was found.`);
    if (probeOnly) console.log(JSON.stringify({ found: false, reason: found.skip, gpus }));
    return strict ? 1 : 0;
  }
  const { libs, cuda } = libsIn(found.libdir);
  const version = torchVersion(found.includes);
  const std = cxxStandard(version);
  const mismatch = cpuOnlyOnGpuMachine(gpus, found, cuda);
  if (mismatch) console.warn(mismatch.split('\n').map((l) => `[gradpool] torch: ${l}`).join('\n'));
  if (probeOnly) {
    console.log(JSON.stringify({ found: true, source: found.source, libdir: found.libdir, version, std, cuda, gpus, cpuOnlyOnGpuMachine: Boolean(mismatch) }));
    return mismatch && strict ? 1 : 0;
  }
  if (mismatch && strict) return 1;
  let gyp;
  let napiInclude;
  try {
    gyp = require.resolve('node-gyp/bin/node-gyp.js');
    napiInclude = dirname(require.resolve('node-addon-api/package.json'));
  } catch {
    return fail('node-gyp or node-addon-api is not installed (run npm ci)');
  }
  const defines = found.abi !== undefined ? `-D_GLIBCXX_USE_CXX11_ABI=${found.abi}` : '';
  log(`libtorch ${version ? `${version.major}.${version.minor} ` : ''}from ${found.source}: headers ${found.includes.join(', ')}; libraries ${found.libdir} (${libs.filter((l) => l.startsWith('-l')).join(' ')})${cuda ? ', with CUDA' : ', CPU only'}; -std=${std}`);
  const env = {
    ...process.env,
    GRADPOOL_TORCH_GYP_NAPI_INCLUDE: napiInclude,
    GRADPOOL_TORCH_GYP_INCLUDES: found.includes.join(':'),
    GRADPOOL_TORCH_GYP_LIBDIR: found.libdir,
    GRADPOOL_TORCH_GYP_LIBS: libs.join(' '),
    GRADPOOL_TORCH_GYP_DEFINES: defines,
    GRADPOOL_TORCH_GYP_STD: std,
  };
  const args = [gyp, 'rebuild', '--release', `--jobs=${process.env.JOBS || 'max'}`];
  const prefix = dirname(dirname(process.execPath));
  if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include/node/node_api.h'))) args.push(`--nodedir=${prefix}`);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, args, { cwd: torchDir, env, stdio: 'inherit' });
  if (r.status !== 0) return fail(`node-gyp exited with ${r.status ?? r.signal}`);
  const out = join(torchDir, 'build/Release/gradpool_torch.node');
  if (!existsSync(out)) return fail(`build finished but ${out} is missing`);
  log(`built ${out} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  return 0;
}

function fail(reason) {
  console.warn(`[gradpool] torch: WARNING: the torch engine addon was NOT built: ${reason}. ` +
    'Fix the cause and run `npm run build:torch`; the tfjs engines are unaffected.');
  return strict ? 1 : 0;
}

process.exitCode = main();
