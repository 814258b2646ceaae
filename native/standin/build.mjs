// Builds the test-only CPU stand-ins for the CUDA runtime and NCCL, and the
// C++ harness that drives the collectives C ABI (native/include/gradpool/
// collectives_abi.h) the way the libtorch engine will:
//
//   native/standin/build/libcudart.so.13   (soname libcudart.so.13)
//   native/standin/build/libnccl.so.2      (soname libnccl.so.2, needs the former)
//   native/standin/build/abi_harness.node
//   native/standin/build/grad_buckets_harness.node  (where a libtorch is found)
//
//   node native/standin/build.mjs [--force]
//
// Never part of an install: the product loads these only when a test points
// GRADPOOL_CUDART_LIB / GRADPOOL_NCCL_LIB at them. Skips up-to-date outputs;
// exits non-zero (naming the compiler error) when a build fails.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, 'build');
const force = process.argv.includes('--force');
const log = (msg) => console.log(`[gradpool] standin: ${msg}`);
const cudaInclude = join(process.env.CUDA_HOME || '/usr/local/cuda', 'include');
const common = ['-std=c++17', '-O2', '-g', '-fPIC', '-pthread', '-Wall', '-Wextra', '-Wno-unused-parameter'];
if (existsSync(join(cudaInclude, 'cuda_runtime_api.h'))) common.push('-isystem', cudaInclude);

const src = (...names) => names.map((n) => join(here, n));
const nodeInclude = join(dirname(dirname(process.execPath)), 'include/node');
const napiInclude = dirname(createRequire(import.meta.url).resolve('node-addon-api/package.json'));

const targets = [
  {
    file: 'libcudart.so.13',
    sources: src('src/devices.cc', 'src/streams.cc'),
    deps: src('src/state.h', 'src/cuda_types.h', 'src/internal.h', 'src/json.h'),
    args: ['-shared', '-Wl,-soname,libcudart.so.13'],
  },
  {
    file: 'libnccl.so.2',
    sources: src('src/nccl.cc', 'src/collectives.cc', 'src/group.cc'),
    deps: src('src/comm.h', 'src/group.h', 'src/nccl_types.h', 'src/cuda_types.h', 'src/internal.h', 'src/json.h'),
    // The stand-in runtime shares its streams and memory map with this library.
    args: ['-shared', '-Wl,-soname,libnccl.so.2', `-L${out}`, '-l:libcudart.so.13', "-Wl,-rpath,$ORIGIN", '-lrt'],
    after: ['libcudart.so.13'],
  },
  {
    file: 'abi_harness.node',
    sources: src('harness/abi_harness.cc', 'harness/streams.cc'),
    deps: [...src('harness/harness.h'), join(here, '../include/gradpool/collectives_abi.h')],
    args: ['-shared', '-I', join(here, '../include'), '-isystem', nodeInclude, '-isystem', napiInclude,
      '-DNAPI_VERSION=8', '-DNAPI_CPP_EXCEPTIONS', '-ldl'],
  },
];

// The libtorch engine's gradient reducer over the stand-in's CUDA memory: only where a
// libtorch is found (GRADPOOL_LIBTORCH, else Debian's libtorch-dev), as the engine needs one.
const libtorch = process.env.GRADPOOL_LIBTORCH;
const torchInc = libtorch ? join(libtorch, 'include') : '/usr/include';
const torchLib = libtorch ? join(libtorch, 'lib') : '/usr/lib/x86_64-linux-gnu';
if (existsSync(join(torchInc, 'torch/csrc/api/include/torch/version.h')) || existsSync(join(torchInc, 'torch/version.h'))) {
  const reducer = join(here, '../torch/src/grad_buckets.cc');
  targets.push({
    file: 'grad_buckets_harness.node',
    sources: [...src('harness/grad_buckets_harness.cc', 'harness/streams.cc'), reducer],
    deps: [...src('harness/harness.h'), join(here, '../torch/src/grad_buckets.h'), join(here, '../include/gradpool/collectives_abi.h')],
    args: ['-shared', '-I', join(here, '../include'), '-isystem', nodeInclude, '-isystem', napiInclude,
      '-isystem', join(torchInc, 'torch/csrc/api/include'), ...(torchInc === '/usr/include' ? [] : ['-isystem', torchInc]),
      '-DNAPI_VERSION=8', '-DNAPI_CPP_EXCEPTIONS', `-L${torchLib}`, `-Wl,-rpath,${torchLib}`, '-ltorch', '-ltorch_cpu', '-lc10', '-ldl'],
  });
}

function stale(t) {
  const target = join(out, t.file);
  if (force || !existsSync(target)) return true;
  const built = statSync(target).mtimeMs;
  return [...t.sources, ...t.deps, fileURLToPath(import.meta.url)].some((f) => statSync(f).mtimeMs > built);
}

function main() {
  if (!existsSync(nodeInclude)) {
    console.error(`[gradpool] standin: Node headers not found at ${nodeInclude}`);
    return 1;
  }
  mkdirSync(out, { recursive: true });
  for (const t of targets) {
    if (!stale(t)) continue;
    const tmp = join(out, `${t.file}.tmp-${process.pid}`);
    const r = spawnSync(process.env.CXX || 'g++', [...common, ...t.sources, '-o', tmp, ...t.args], { encoding: 'utf8' });
    if (r.status !== 0) {
      console.error(`[gradpool] standin: building ${t.file} failed:\n${r.stderr || r.error}`);
      return 1;
    }
    renameSync(tmp, join(out, t.file)); // atomic: a concurrent test never loads half a file
    log(`built ${join(out, t.file)}`);
  }
  for (const f of readdirSync(out)) if (f.includes('.tmp-')) log(`leftover ${f} (an interrupted build)`);
  return 0;
}

process.exitCode = main();
