/**
 * Where a rank computes: the environment a worker gives its rank processes,
 * the torch device that follows from the rendezvous' placement, and the
 * refusal to train on the CPU in a worker that owns a GPU.
 */
import { spawnSync } from 'node:child_process';
import type { Placement } from '../native/index.ts';
import { TORCH_ADDON_PATH } from '../engine/torch/native.ts';

/**
 * A GPU worker's rank process sees its one GPU, a CPU worker's sees none: a
 * CPU rank that saw the host's GPUs would publish them in the rendezvous and
 * could be placed on a GPU another rank uses (NCCL then fails with "Duplicate
 * GPU detected"), and its torch engine would take cuda:0. Ordinals follow
 * PCI bus order, so worker "gpu 1" is nvidia-smi's GPU 1.
 */
export function rankProcessEnv(gpu: number | null, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return {
    ...base,
    OMP_WAIT_POLICY: 'PASSIVE',
    CUDA_DEVICE_ORDER: 'PCI_BUS_ID',
    CUDA_VISIBLE_DEVICES: gpu === null ? '' : String(gpu),
    GRADPOOL_WORKER_GPU: gpu === null ? '' : String(gpu),
  };
}

/** The GPU the worker gave this rank process (GRADPOOL_WORKER_GPU), null for a CPU worker or outside one. */
export function workerGpu(env: NodeJS.ProcessEnv = process.env): number | null {
  const v = env.GRADPOOL_WORKER_GPU;
  return v === undefined || v === '' ? null : Number(v);
}

/** The torch device for a placement: the NCCL device itself (same process, same ordinal), or the CPU. */
export function torchDeviceFor(p: Placement): string {
  return p.type === 'cuda' ? `cuda:${p.index}` : 'cpu';
}

export const CPU_ENGINE_ON_GPU_FIX =
  'rebuild the torch addon against a CUDA libtorch (GRADPOOL_LIBTORCH=/path/to/libtorch or a CUDA torch wheel, then ' +
  '`node native/torch/build.mjs --strict`; `npm run gpu:check` tests the result), or start the worker without --gpu/GRADPOOL_GPU to train on the CPU';

/**
 * Why a worker owning `gpu` must not train with an engine on `device` (null when fine).
 * A job that names a tfjs engine (wasm, cpu, tensorflow) chose the CPU itself.
 */
export function cpuEngineOnGpuProblem(gpu: number | null, jobEngine: string, engine: { engine: string; device: string }): string | null {
  if (gpu === null || !['auto', 'torch'].includes(jobEngine) || engine.device.startsWith('cuda')) return null;
  return `this worker owns GPU ${gpu} but the ${engine.engine} engine runs on ${engine.device}: ${CPU_ENGINE_ON_GPU_FIX}`;
}

/**
 * At worker start: what the torch engine would compute on in a rank process of this worker,
 * asked in a child process with the rank's environment (the worker itself never loads libtorch
 * or creates a CUDA context). Null when it would use the GPU.
 */
export function probeGpuEngine(gpu: number, base: NodeJS.ProcessEnv = process.env, addonPath = TORCH_ADDON_PATH): string | null {
  const script = `const v = require(${JSON.stringify(addonPath)}).versions(); process.stdout.write(JSON.stringify(v));`;
  const r = spawnSync(process.execPath, ['-e', script], { env: rankProcessEnv(gpu, base), encoding: 'utf8', timeout: 120_000 });
  let why: string;
  if (r.status === 0) {
    const v = JSON.parse(r.stdout) as { libtorch: string; cuda: boolean; cudaDevices: number };
    if (v.cuda && v.cudaDevices > 0) return null;
    why = v.cuda
      ? `the torch engine (libtorch ${v.libtorch}, with CUDA) sees no GPU with CUDA_VISIBLE_DEVICES=${gpu}`
      : `the torch engine's libtorch ${v.libtorch} was built without CUDA, so it would train on the CPU`;
  } else {
    why = `the torch engine addon ${addonPath} does not load (${(r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n').slice(-1)[0]})`;
  }
  return `this worker owns GPU ${gpu} but ${why}: ${CPU_ENGINE_ON_GPU_FIX}`;
}
