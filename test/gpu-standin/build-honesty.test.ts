/**
 * native/torch/build.mjs on a GPU machine whose libtorch has no CUDA: it
 * must say so loudly, and --strict must fail (before compiling anything).
 * nvidia-smi is faked on PATH; the libtorch found is this machine's CPU one.
 * Also: the C++ standard follows the torch headers (C++20 from torch 2.13).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const build = fileURLToPath(new URL('../../native/torch/build.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'gp-honesty-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function fakeNvidiaSmi(): string {
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'nvidia-smi'), '#!/bin/sh\necho "GPU 0: NVIDIA H200 (UUID: GPU-00000000-1111-2222-3333-444444444444)"\n');
  chmodSync(join(bin, 'nvidia-smi'), 0o755);
  return bin;
}

/** A LibTorch folder of the given version; with CUDA libraries when cuda. */
function fakeLibtorch(major: number, minor: number, cuda: boolean): string {
  const root = join(dir, `libtorch-${major}.${minor}${cuda ? '-cuda' : ''}`);
  const inc = join(root, 'include/torch/csrc/api/include/torch');
  mkdirSync(inc, { recursive: true });
  mkdirSync(join(root, 'lib'), { recursive: true });
  writeFileSync(join(inc, 'version.h'), `#define TORCH_VERSION_MAJOR ${major}\n#define TORCH_VERSION_MINOR ${minor}\n`);
  for (const l of ['torch', 'torch_cpu', 'c10', ...(cuda ? ['torch_cuda', 'c10_cuda'] : [])]) writeFileSync(join(root, `lib/lib${l}.so`), '');
  return root;
}

function probe(args: string[], env: Record<string, string>) {
  const r = spawnSync(process.execPath, [build, '--probe', ...args], { env: { ...process.env, ...env }, encoding: 'utf8' });
  const json = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  return { status: r.status, stderr: r.stderr, info: json ? JSON.parse(json) : undefined };
}

describe('torch build honesty', () => {
  it('a GPU machine with a CPU-only libtorch: a loud warning, and --strict fails', () => {
    const path = `${fakeNvidiaSmi()}:${process.env.PATH}`;
    const cpu = fakeLibtorch(2, 11, false);
    const loose = probe([], { PATH: path, GRADPOOL_LIBTORCH: cpu });
    assert.equal(loose.status, 0);
    assert.equal(loose.info.cpuOnlyOnGpuMachine, true);
    assert.match(loose.stderr, /WARNING: this machine has 1 NVIDIA GPU\(s\) \(GPU 0: NVIDIA H200/);
    assert.match(loose.stderr, /has no CUDA \(no libtorch_cuda\.so\)/);
    const strict = probe(['--strict'], { PATH: path, GRADPOOL_LIBTORCH: cpu });
    assert.equal(strict.status, 1);
  });

  it('no warning with a CUDA libtorch, nor without a GPU', () => {
    const path = `${fakeNvidiaSmi()}:${process.env.PATH}`;
    const gpuBuild = probe(['--strict'], { PATH: path, GRADPOOL_LIBTORCH: fakeLibtorch(2, 11, true) });
    assert.equal(gpuBuild.status, 0);
    assert.equal(gpuBuild.info.cuda, true);
    assert.doesNotMatch(gpuBuild.stderr, /WARNING/);
    // Without nvidia-smi on PATH (this machine), a CPU libtorch is what we want.
    const noGpu = probe(['--strict'], { PATH: '/usr/bin:/bin', GRADPOOL_LIBTORCH: fakeLibtorch(2, 11, false) });
    assert.equal(noGpu.status, 0);
    assert.deepEqual(noGpu.info.gpus, []);
  });

  it('C++20 for torch >= 2.13 headers, C++17 before', () => {
    assert.equal(probe([], { GRADPOOL_LIBTORCH: fakeLibtorch(2, 13, false) }).info.std, 'c++20');
    assert.equal(probe([], { GRADPOOL_LIBTORCH: fakeLibtorch(3, 0, false) }).info.std, 'c++20');
    assert.equal(probe([], { GRADPOOL_LIBTORCH: fakeLibtorch(2, 12, false) }).info.std, 'c++17');
    assert.equal(probe([], { GRADPOOL_LIBTORCH: fakeLibtorch(1, 13, false) }).info.std, 'c++17');
  });
});
