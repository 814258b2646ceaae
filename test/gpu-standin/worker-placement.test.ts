/**
 * Device placement as the worker sets it up (gpu-worker/rank-device.ts): the
 * environment of its rank processes, run through the rendezvous with
 * stand-in GPUs; the torch device that follows from the placement; and the
 * refusal of a GPU worker whose engine would run on the CPU.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RankWorker } from '../../gpu-worker/rank-worker.ts';
import { cpuEngineOnGpuProblem, probeGpuEngine, rankProcessEnv, torchDeviceFor, workerGpu } from '../../gpu-worker/rank-device.ts';
import { torchSkip } from '../engine/torch-available.ts';
import { REDIS_URL, report, runWorld } from './standin.ts';

/** Only what the worker adds to its rank process' environment. */
const delta = (gpu: number | null) => rankProcessEnv(gpu, {}) as Record<string, string>;

describe('rank process environment', () => {
  it('a CPU worker hides every GPU; a GPU worker shows its own; ordinals follow PCI bus order', () => {
    assert.deepEqual(delta(null), { OMP_WAIT_POLICY: 'PASSIVE', CUDA_DEVICE_ORDER: 'PCI_BUS_ID', CUDA_VISIBLE_DEVICES: '', GRADPOOL_WORKER_GPU: '' });
    assert.equal(delta(3).CUDA_VISIBLE_DEVICES, '3');
    assert.equal(workerGpu(delta(3)), 3);
    assert.equal(workerGpu(delta(null)), null);
    assert.equal(workerGpu({}), null);
    // An operator's CUDA_VISIBLE_DEVICES in the worker's own environment does not leak into a CPU rank.
    assert.equal(rankProcessEnv(null, { CUDA_VISIBLE_DEVICES: '0,1' }).CUDA_VISIBLE_DEVICES, '');
  });

  it('the torch device is the placement: the NCCL device, or the CPU', () => {
    assert.equal(torchDeviceFor({ type: 'cuda', index: 1, busId: '0000:81:00.0' }), 'cuda:1');
    assert.equal(torchDeviceFor({ type: 'cpu' }), 'cpu');
  });

  it('a GPU worker refuses an engine on the CPU, naming the fix; a job that chose tfjs is left alone', () => {
    const msg = cpuEngineOnGpuProblem(0, 'auto', { engine: 'torch', device: 'cpu' });
    assert.match(msg ?? '', /this worker owns GPU 0 but the torch engine runs on cpu: rebuild the torch addon against a CUDA libtorch .*node native\/torch\/build\.mjs --strict.*or start the worker without --gpu/);
    assert.match(cpuEngineOnGpuProblem(0, 'torch', { engine: 'tfjs', device: 'cpu' }) ?? '', /owns GPU 0/);
    assert.equal(cpuEngineOnGpuProblem(0, 'auto', { engine: 'torch', device: 'cuda:0' }), null);
    assert.equal(cpuEngineOnGpuProblem(null, 'auto', { engine: 'torch', device: 'cpu' }), null);
    assert.equal(cpuEngineOnGpuProblem(0, 'wasm', { engine: 'tfjs', device: 'cpu' }), null);
  });
});

describe('worker placement through the rendezvous (stand-in GPUs 0000:01:00.0 and 0000:81:00.0)', { concurrency: true }, () => {
  it('two CPU workers on a GPU host: no GPU in sight, cpu placement, shm, torch on cpu', async () => {
    const w = await runWorld({ scenario: 'placement', rankEnv: [delta(null), delta(null)] });
    for (const r of [0, 1]) {
      const ready = report(w, r, 'ready');
      assert.equal(ready.backend, 'shm');
      assert.deepEqual(ready.placement, { type: 'cpu' });
      assert.equal(torchDeviceFor(ready.placement as { type: 'cpu' }), 'cpu');
    }
    assert.deepEqual(w.events.filter((e) => e.ev === 'context'), [], 'no CUDA context anywhere');
  });

  it('GPU workers 0 and 1: nccl, each rank on its own bus id (nvidia-smi order), torch on cuda:0 of its process', async () => {
    const w = await runWorld({ scenario: 'placement', rankEnv: [delta(0), delta(1)] });
    assert.equal(report(w, 0, 'ready').backend, 'nccl');
    assert.deepEqual(report(w, 0, 'ready').placement, { type: 'cuda', index: 0, busId: '0000:01:00.0' });
    assert.deepEqual(report(w, 1, 'ready').placement, { type: 'cuda', index: 0, busId: '0000:81:00.0' });
    for (const r of [0, 1]) assert.equal(torchDeviceFor(report(w, r, 'ready').placement as { type: 'cuda'; index: number; busId: string }), 'cuda:0');
  });

  it('two workers given the same GPU: shm, said in the log; NCCL never initialised', async () => {
    const w = await runWorld({ scenario: 'placement', rankEnv: [delta(1), delta(1)] });
    for (const r of [0, 1]) {
      assert.equal(report(w, r, 'ready').backend, 'shm');
      assert.match(report(w, r, 'log').line, /using shm instead of NCCL: NCCL needs a GPU per rank, but ranks 0 and 1 share GPU 0000:81:00\.0/);
    }
    assert.deepEqual(w.events.filter((e) => e.ev === 'init'), []);
  });

  it('a CPU worker next to a GPU worker: the CPU rank stays on the CPU and NCCL is not picked', async () => {
    const w = await runWorld({ scenario: 'placement', rankEnv: [delta(null), delta(0)] });
    assert.deepEqual(report(w, 0, 'ready').placement, { type: 'cpu' });
    assert.deepEqual(report(w, 1, 'ready').placement, { type: 'cuda', index: 0, busId: '0000:01:00.0' });
    assert.equal(report(w, 0, 'ready').backend, 'shm');
    assert.deepEqual(w.events.filter((e) => e.ev === 'init'), []);
  });
});

describe('a GPU worker whose torch engine runs on the CPU', { skip: torchSkip() }, () => {
  it('refuses to start, with the fix in the message (this machine has a CPU-only libtorch)', async () => {
    const probe = probeGpuEngine(0);
    assert.match(probe ?? '', /this worker owns GPU 0 but the torch engine's libtorch [\d.]+\S* was built without CUDA, so it would train on the CPU: rebuild the torch addon/);
    const worker = new RankWorker({ config: { redisUrl: REDIS_URL, prefix: `t-gpuref-${process.pid}` }, gpu: 0, log: () => {} });
    try {
      await assert.rejects(worker.start(), /this worker owns GPU 0 but .*node native\/torch\/build\.mjs --strict/);
    } finally {
      await worker.close();
    }
  });
});
