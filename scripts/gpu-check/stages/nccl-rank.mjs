// One rank of gpu:check's NCCL stage (forked by nccl.mjs): the collectives
// addon's nccl backend directly (no Redis needed), reporting over IPC.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { createBertEngine } from './bert-engine.mjs';
import { ROOT } from './lib.mjs';

const addon = createRequire(import.meta.url)(join(ROOT, 'native/build/Release/gradpool_collectives.node'));
const send = (m) => new Promise((res) => process.send(m, res));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const value = (rank, i) => (rank + 1) * 0.5 + (i % 61) * 0.25; // exact in float32, and their sums

async function uniqueId(rank, idFile) {
  if (rank === 0) {
    writeFileSync(`${idFile}.tmp`, addon.ncclUniqueId());
    renameSync(`${idFile}.tmp`, idFile);
  }
  while (!existsSync(idFile)) await sleep(10);
  return readFileSync(idFile);
}

async function check(name, fn) {
  const t0 = performance.now();
  const wrong = await fn();
  await send({ type: 'step', name, ok: wrong === '', detail: wrong || 'ok', ms: performance.now() - t0 });
}

function firstWrong(a, want) {
  for (let i = 0; i < a.length; i++) if (a[i] !== want(i)) return `index ${i}: ${a[i]} instead of ${want(i)}`;
  return '';
}

async function main(o) {
  const { rank } = o;
  const c = new addon.NcclComm({
    rank, worldSize: 2, device: 0, id: await uniqueId(rank, o.idFile), timeoutMs: 60_000,
    initTimeoutMs: 60_000, finalizeTimeoutMs: 10_000, localPeers: [{ rank: 1 - rank, pid: o.peerPid }],
  });
  await c.init();
  await send({ type: 'ready', info: c.info() });
  const sum = (i) => value(0, i) + value(1, i);
  for (const n of o.sizes) {
    await check(`allReduce sum ${n}`, async () => {
      const a = Float32Array.from({ length: n }, (_, i) => value(rank, i));
      await c.allReduce(a, false);
      return firstWrong(a, sum);
    });
  }
  await check('allReduce avg 1000', async () => {
    const a = Float32Array.from({ length: 1000 }, (_, i) => value(rank, i));
    await c.allReduce(a, true);
    return firstWrong(a, (i) => Math.fround(sum(i) / 2));
  });
  await check(`broadcast ${o.broadcast} from rank 1`, async () => {
    const a = rank === 1 ? Float32Array.from({ length: o.broadcast }, (_, i) => value(5, i)) : new Float32Array(o.broadcast);
    await c.broadcast(a, 1);
    return firstWrong(a, (i) => value(5, i));
  });
  // The trainer's all-reduce today: the whole flat gradient from host memory.
  const grad = new Float32Array(o.gradientFloats);
  const times = [];
  for (let k = 0; k < 3; k++) {
    const t0 = performance.now();
    await c.allReduce(grad, false);
    times.push(performance.now() - t0);
  }
  await send({ type: 'timing', allReduceMs: times.sort((a, b) => a - b)[1], floats: o.gradientFloats });
  if (o.engine) await engineBuckets(c, o.engine);
  // Until the parent kills rank 1 in the middle of one.
  await send({ type: 'looping' });
  const buf = new Float32Array(4_000_000);
  try {
    for (;;) await c.allReduce(buf, false);
  } catch (e) {
    await send({ type: 'error', code: e.code, rank: e.rank, message: e.message, at: Date.now() });
  }
  const t0 = Date.now();
  const closed = await c.close(false);
  await send({ type: 'closed', closed, ms: Date.now() - t0 });
}

/**
 * The libtorch engine summing its own gradient on the GPU (native/torch/src/grad_buckets.cc):
 * both ranks backpropagate the same batch, so the synced gradient is exactly twice one
 * rank's; the pre-clip norm that optimizerStep returns (lr 0: nothing moves) compares them.
 */
async function engineBuckets(c, o) {
  const s = o.shape;
  const { engine } = createBertEngine(s, o.specsFile, o.device);
  const count = o.micro * s.seq;
  const ids = Int32Array.from({ length: count }, (_, i) => 1000 + ((i * 7919) % 29522));
  const positions = Int32Array.from({ length: Math.ceil(count / 7) }, (_, k) => 7 * k);
  const labels = positions.map((p) => ids[p]);
  const tt = new Int32Array(count);
  const am = new Int32Array(count).fill(1);
  const backward = () => engine.forwardBackward(ids, tt, am, o.micro, s.seq, positions, labels, false, 0, 0);
  const norm = () => engine.optimizerStep(0, 0.9, 0.999, 1e-8, 0, 0, 1);
  engine.zeroGrad();
  backward();
  const single = norm();
  const attach = engine.attachCollectives(c.collectiveAbi(), 25 * 2 ** 20);
  if (!attach.attached) {
    await send({ type: 'engine', attached: false, why: attach.why });
    engine.dispose();
    return;
  }
  const reports = [];
  let synced = NaN;
  for (let k = 0; k < 4; k++) {
    engine.zeroGrad();
    engine.armGradientSync();
    backward();
    reports.push(await engine.gradientSync());
    synced = norm();
  }
  const timed = reports.slice(1);
  const sum = (key) => timed.reduce((a, r) => a + r[key], 0);
  await send({
    type: 'engine', attached: true, buckets: reports[0].buckets, launchedDuringBackward: reports[0].launchedDuringBackward,
    single, synced, relErr: Math.abs(synced - 2 * single) / (2 * single),
    commMs: sum('commMs') / timed.length, hiddenShare: sum('commMs') > 0 ? sum('hiddenMs') / sum('commMs') : 0,
  });
  engine.detachCollectives();
  engine.dispose();
}

process.once('message', (o) => {
  main(o).then(() => process.exit(0), async (e) => {
    await send({ type: 'fatal', message: String(e?.stack ?? e), code: e?.code });
    process.exit(1);
  });
});
