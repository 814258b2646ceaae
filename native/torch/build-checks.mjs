// Checks build.mjs makes before compiling: which libtorch version (and so
// which C++ standard its headers need), and whether this machine has a GPU
// that the libtorch found cannot use.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** { major, minor } from torch/version.h under one of the include dirs, or undefined. */
export function torchVersion(includes) {
  for (const dir of includes) {
    for (const f of [join(dir, 'torch/version.h'), join(dir, 'torch/csrc/api/include/torch/version.h')]) {
      if (!existsSync(f)) continue;
      const text = readFileSync(f, 'utf8');
      const major = /#define TORCH_VERSION_MAJOR (\d+)/.exec(text)?.[1];
      const minor = /#define TORCH_VERSION_MINOR (\d+)/.exec(text)?.[1];
      if (major !== undefined && minor !== undefined) return { major: Number(major), minor: Number(minor) };
    }
  }
  return undefined;
}

/** torch >= 2.13 headers need C++20; older ones build as C++17 (Debian's 1.13 needs it). */
export function cxxStandard(version) {
  if (!version) return 'c++17';
  return version.major > 2 || (version.major === 2 && version.minor >= 13) ? 'c++20' : 'c++17';
}

/** The GPUs `nvidia-smi -L` lists ([] where there is none or no driver). */
export function nvidiaGpus() {
  const r = spawnSync('nvidia-smi', ['-L'], { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0 || typeof r.stdout !== 'string') return [];
  return r.stdout.split('\n').map((l) => l.trim()).filter((l) => /^GPU \d+:/.test(l));
}

/** The loud message for a GPU machine about to get a CPU-only engine, or undefined. */
export function cpuOnlyOnGpuMachine(gpus, found, cuda) {
  if (gpus.length === 0 || cuda) return undefined;
  return [
    '',
    '='.repeat(100),
    `WARNING: this machine has ${gpus.length} NVIDIA GPU(s) (${gpus[0]}${gpus.length > 1 ? ', ...' : ''}),`,
    `but the libtorch found (${found.source}, ${found.libdir}) has no CUDA (no libtorch_cuda.so).`,
    'The torch engine built from it would train on the CPU.',
    'Fix: install a CUDA build of PyTorch (pip install torch) and point the build at it',
    '(GRADPOOL_TORCH_PYTHON=/path/to/python npm run build:torch), or set GRADPOOL_LIBTORCH to an',
    'unpacked CUDA LibTorch. --strict (GRADPOOL_TORCH_STRICT=1) makes this an error.',
    '='.repeat(100),
  ].join('\n');
}
