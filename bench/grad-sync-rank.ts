// One rank of `npm run bench:engines`' gradient-sync section (forked by bench/grad-sync.ts):
// the same train micro-batch with the trainer's host all-reduce after backward, and with the
// torch engine's bucketed all-reduce started from autograd hooks during backward.
import { Communicator } from '../native/index.ts';
import { TorchEngine } from '../engine/torch/torch-engine.ts';
import { resolveBertConfig } from '../model/bert-config.ts';
import { randomBatch } from '../test/helpers/tiny-model.ts';

const o = JSON.parse(process.env.GP_BENCH_SYNC!) as { rank: number; world: number; runId: string; redisUrl: string; iters: number; B: number; S: number; config: Record<string, number>; bucketBytes: number };
const config = resolveBertConfig(o.config);
const comm = await Communicator.init({ backend: 'shm', rank: o.rank, worldSize: o.world, runId: o.runId, rendezvous: { redisUrl: o.redisUrl }, timeoutMs: 120_000 });
const engine = await TorchEngine.create({ config, seed: 0, device: 'cpu', threads: 1 });
const batch = randomBatch(config, o.B, o.S, 10 + o.rank);
const ms = (t: number) => performance.now() - t;

async function host(): Promise<{ stepMs: number; commMs: number }> {
  engine.zeroGrad();
  await comm.barrier();
  const t = performance.now();
  await engine.forwardBackward(batch, true);
  const c = performance.now();
  await comm.allReduce(engine.gradients(), 'sum');
  return { stepMs: ms(t), commMs: ms(c) };
}

async function bucketed(): Promise<{ stepMs: number; commMs: number; hiddenMs: number; buckets: number }> {
  engine.zeroGrad();
  await comm.barrier();
  const t = performance.now();
  engine.collectives.armGradientSync();
  await engine.forwardBackward(batch, true);
  const r = await engine.collectives.gradientSync();
  return { stepMs: ms(t), commMs: r.commMs, hiddenMs: r.hiddenMs, buckets: r.buckets };
}

const attach = engine.collectives.attachCollectives(comm.collectiveAbi(), { bucketBytes: o.bucketBytes });
if (!attach.attached) throw new Error(`attach: ${attach.why}`);
const sum = { host: 0, hostComm: 0, bucketed: 0, comm: 0, hidden: 0, buckets: 0 };
engine.collectives.detachCollectives();
await host(); // warm-up
for (let i = 0; i < o.iters; i++) {
  const h = await host();
  sum.host += h.stepMs;
  sum.hostComm += h.commMs;
}
engine.collectives.attachCollectives(comm.collectiveAbi(), { bucketBytes: o.bucketBytes });
await bucketed();
for (let i = 0; i < o.iters; i++) {
  const b = await bucketed();
  sum.bucketed += b.stepMs;
  sum.comm += b.commMs;
  sum.hidden += b.hiddenMs;
  sum.buckets = b.buckets;
}
process.send!({ rank: o.rank, numParams: engine.numParams, ...sum }, () => {
  engine.dispose();
  void comm.destroy().then(() => process.exit(0));
});
