/**
 * The trainer's choice of where the gradient is summed (train/engine-sync.ts),
 * for the cases the stand-in suite does not produce: ranks that disagree,
 * the modes, and engines without their own sync. The engine path itself runs
 * through real communicators in test/gpu-standin/engine-sync.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Engine, EngineCollectives } from '../../engine/engine.ts';
import { agreeGradientPath, chooseGradientPath } from '../../train/engine-sync.ts';
import type { GradientSync } from '../../train/gradient-sync.ts';

/** A rank of `world` whose all-reduce adds what the other ranks voted (`others`). */
function syncOf(world: number, others: number, abi = true): GradientSync {
  return {
    rank: 0,
    worldSize: world,
    allReduceSum: async (b) => void (b[0]! += others),
    broadcast: async () => {},
    ...(abi ? { collectiveAbi: () => ({ table: 'abi' }) } : {}),
  };
}

function engineWith(attach: { attached: boolean; why?: string } | null): Engine & { detached: number } {
  const e = { info: { engine: attach ? 'torch' : 'tfjs' }, detached: 0 } as unknown as Engine & { detached: number };
  if (attach) {
    const c: EngineCollectives = {
      attachCollectives: () => ({ ...attach, buckets: attach.attached ? 3 : 0 }),
      detachCollectives: () => void e.detached++,
      armGradientSync: () => {},
      gradientSync: async () => ({ buckets: 3, launchedDuringBackward: 3, commMs: 1, hiddenMs: 1 }),
    };
    (e as { collectives?: EngineCollectives }).collectives = c;
  }
  return e;
}

describe('chooseGradientPath', () => {
  it('auto: the engine path where the engine attaches, else the host path with the reason', () => {
    const lines: string[] = [];
    assert.equal(chooseGradientPath(engineWith({ attached: true }), syncOf(2, 1), { mode: 'auto', log: (l) => lines.push(l) }), 'engine');
    assert.match(lines[0]!, /in the engine, 3 bucket\(s\) of up to 25 MiB/);
    assert.equal(chooseGradientPath(engineWith({ attached: false, why: 'shm reduces host memory but this engine computes on cuda:0' }), syncOf(2, 1), { mode: 'auto', log: (l) => lines.push(l) }), 'host');
    assert.match(lines[1]!, /on the host after backward \(shm reduces host memory but this engine computes on cuda:0\)/);
    assert.equal(chooseGradientPath(engineWith(null), syncOf(2, 1), { mode: 'auto', log: (l) => lines.push(l) }), 'host');
    assert.match(lines[2]!, /the tfjs engine cannot all-reduce its own gradient/);
    assert.equal(chooseGradientPath(engineWith({ attached: true }), syncOf(2, 1, false), { mode: 'auto' }), 'host');
  });

  it('one process never communicates; host mode never attaches; engine mode fails loudly when it cannot', () => {
    assert.equal(chooseGradientPath(engineWith({ attached: true }), syncOf(1, 0), { mode: 'engine' }), 'host');
    assert.equal(chooseGradientPath(engineWith({ attached: true }), syncOf(2, 1), { mode: 'host' }), 'host');
    assert.throws(() => chooseGradientPath(engineWith(null), syncOf(2, 1), { mode: 'engine' }), /GRADPOOL_GRAD_SYNC=engine: the tfjs engine cannot/);
    assert.throws(() => chooseGradientPath(engineWith(null), syncOf(2, 1), { mode: 'fast' }), /GRADPOOL_GRAD_SYNC: "fast" is not one of auto, engine, host/);
  });

  it('GRADPOOL_BUCKET_MB must be a positive number', () => {
    const saved = process.env.GRADPOOL_BUCKET_MB;
    process.env.GRADPOOL_BUCKET_MB = 'lots';
    try {
      assert.throws(() => chooseGradientPath(engineWith({ attached: true }), syncOf(2, 1), { mode: 'auto' }), /GRADPOOL_BUCKET_MB: "lots" is not a positive number of MiB/);
    } finally {
      if (saved === undefined) delete process.env.GRADPOOL_BUCKET_MB;
      else process.env.GRADPOOL_BUCKET_MB = saved;
    }
  });
});

describe('agreeGradientPath', () => {
  it('all ranks on the engine path, or all on the host path, stay', async () => {
    assert.equal(await agreeGradientPath(engineWith({ attached: true }), syncOf(3, 2), 'engine'), 'engine');
    assert.equal(await agreeGradientPath(engineWith({ attached: false }), syncOf(3, 0), 'host'), 'host');
  });

  it('ranks that disagree all take the host path; an attached engine detaches', async () => {
    const e = engineWith({ attached: true });
    const lines: string[] = [];
    assert.equal(await agreeGradientPath(e, syncOf(3, 1), 'engine', (l) => lines.push(l)), 'host');
    assert.equal(e.detached, 1);
    assert.match(lines[0]!, /on the host after backward \(1 of 3 rank\(s\) cannot sync in their engine\)/);
    const other = engineWith({ attached: false });
    assert.equal(await agreeGradientPath(other, syncOf(3, 2), 'host'), 'host');
    assert.equal(other.detached, 0);
  });
});
