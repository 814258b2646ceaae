// Stage 6: NCCL with 2 ranks on one GPU (distinct NCCL_HOSTIDs, so NCCL
// accepts two ranks on one device): all-reduce sums across sizes crossing
// the 25 MB bucket size, broadcast, the time of a BERT-base-sized
// all-reduce, then rank 1 SIGKILLed mid-operation and the time until rank 0
// fails (naming it).
import { fork } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HERE } from './lib.mjs';

const BUCKET_FLOATS = (25 * 2 ** 20) / 4;

export const ncclStage = {
  name: 'nccl',
  timeoutS: 75,
  needs: ['build'],
  async run(ctx) {
    const dir = mkdtempSync(join(tmpdir(), 'gp-nccl-'));
    const plan = {
      idFile: join(dir, 'id'),
      sizes: [1, 1000, BUCKET_FLOATS - 1, BUCKET_FLOATS, BUCKET_FLOATS + 1, 3 * BUCKET_FLOATS + 7],
      broadcast: 10_000_000,
      gradientFloats: ctx.dryRun ? 10_000_000 : 109_514_298, // BERT-base's parameter count
      // The step stage's model (and its parameter layout), for the engine's own bucketed sync.
      ...(ctx.results.step?.shape && existsSync(join(ctx.outDir, 'bert-specs.json'))
        ? { engine: { shape: ctx.results.step.shape, specsFile: join(ctx.outDir, 'bert-specs.json'), device: ctx.dryRun ? 'cpu' : 'cuda:0', micro: ctx.dryRun ? 2 : 8 } }
        : {}),
    };
    try {
      return await twoRanks(ctx, plan);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

function twoRanks(ctx, plan) {
  const msgs = [[], []];
  const children = [0, 1].map((rank) => fork(join(HERE, 'nccl-rank.mjs'), [], {
    env: { ...process.env, ...ctx.env, NCCL_HOSTID: `gradpool-gpu-check-${rank}` },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  }));
  return new Promise((resolve) => {
    let killedAt = 0;
    let exited = 0;
    const finish = () => resolve(summarize(ctx, msgs, killedAt));
    const watchdog = setTimeout(() => {
      for (const c of children) c.kill('SIGKILL');
    }, ctx.timeoutMs - 2000);
    children.forEach((c, rank) => {
      c.stdout.on('data', (d) => ctx.log(`  rank ${rank}: ${d.toString().trim()}`));
      c.stderr.on('data', (d) => ctx.log(`  rank ${rank}: ${d.toString().trim()}`));
      c.send({ ...plan, rank, peerPid: children[1 - rank].pid });
      c.on('message', (m) => {
        msgs[rank].push(m);
        ctx.log(`  rank ${rank}: ${JSON.stringify(m)}`);
        if (m.type === 'looping' && msgs[0].some((x) => x.type === 'looping') && msgs[1].some((x) => x.type === 'looping') && !killedAt) {
          setTimeout(() => {
            killedAt = Date.now();
            children[1].kill('SIGKILL');
          }, 1500);
        }
      });
      c.on('exit', () => {
        if (++exited === 2) {
          clearTimeout(watchdog);
          finish();
        }
      });
    });
  });
}

function summarize(ctx, msgs, killedAt) {
  const steps = msgs[0].filter((m) => m.type === 'step');
  const failedSteps = [...steps, ...msgs[1].filter((m) => m.type === 'step')].filter((m) => !m.ok);
  const timing = msgs[0].find((m) => m.type === 'timing');
  const err = msgs[0].find((m) => m.type === 'error');
  const closed = msgs[0].find((m) => m.type === 'closed');
  const engine = msgs[0].find((m) => m.type === 'engine');
  const fatal = [...msgs[0], ...msgs[1]].find((m) => m.type === 'fatal');
  const out = {
    steps: steps.map((s) => ({ name: s.name, ok: s.ok, ms: Math.round(s.ms) })),
    ...(timing ? { gradientAllReduceMs: Math.round(timing.allReduceMs), gradientFloats: timing.floats } : {}),
    ...(err ? { killedRank: { code: err.code, rank: err.rank, message: err.message, detectedAfterMs: killedAt ? err.at - killedAt : null } } : {}),
    ...(closed ? { closeAfterFailure: { ...closed.closed, ms: closed.ms } } : {}),
    ...(engine ? { engineBuckets: engine.attached
      ? { buckets: engine.buckets, launchedDuringBackward: engine.launchedDuringBackward, relErr: engine.relErr,
          commMs: Math.round(engine.commMs * 10) / 10, hiddenShare: Math.round(engine.hiddenShare * 1000) / 1000 }
      : { attached: false, why: engine.why } } : {}),
  };
  const stepMs = ctx.results.step?.stepMs;
  if (timing && stepMs) {
    // Not overlapped with backward (today's trainer): the share of a 2-rank step spent in it.
    out.allReduceShareOfStep = Math.round((timing.allReduceMs / (timing.allReduceMs + stepMs)) * 1000) / 1000;
  }
  const problems = [
    ...(fatal ? [`${fatal.code ?? ''} ${fatal.message.split('\n')[0]}`] : []),
    ...failedSteps.map((s) => `${s.name}: ${s.detail}`),
    // The engine's device path (a CPU engine in the dry run cannot attach to the stand-in's NCCL).
    ...(engine && !engine.attached && !ctx.dryRun ? [`the torch engine did not attach to NCCL: ${engine.why}`] : []),
    ...(engine?.attached && !(engine.relErr <= 1e-5) ? [`engine bucketed sum: norm ${engine.synced} instead of 2 × ${engine.single}`] : []),
    ...(err?.code === 'PEER_DIED' && err.rank === 1 ? [] : [`rank 0 did not report rank 1's death as PEER_DIED (got ${err ? `${err.code} ${err.message}` : 'nothing'})`]),
  ];
  return { status: problems.length ? 'failed' : 'ok', ...out, ...(problems.length ? { error: problems.join('; ') } : {}) };
}
