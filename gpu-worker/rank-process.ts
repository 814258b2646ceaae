/**
 * The process that does a rank's compute, forked by the worker for each rank
 * job. Keeping the synchronous tfjs steps here leaves the worker's event loop
 * free to renew its BullMQ lock, answer health checks and relay a cancel.
 */
import { Communicator, CollectiveError } from '../native/index.ts';
import type { Engine } from '../engine/engine.ts';
import { warmUpEngines } from '../engine/warm-up.ts';
import { SingleProcessSync, type GradientSync } from '../train/gradient-sync.ts';
import { createRunEngine } from '../train/run-engine.ts';
import { writeSavedParams } from '../train/saved-params.ts';
import { trainRun } from '../train/train-run.ts';
import { CommunicatorSync } from './comm-sync.ts';
import { cpuEngineOnGpuProblem, torchDeviceFor, workerGpu } from './rank-device.ts';
import type { RankJobData } from '../protocol/rank-job.ts';
import type { FromRank, ToRank } from './rank-ipc.ts';

let stopRequested = false;
const send = (m: FromRank) => process.send?.(m);

// Forked ahead of its rank job (rank-worker.ts sets GRADPOOL_RANK_WARM_UP): warm the engines while the worker is idle.
let warmDone = false;
const warming =
  process.env.GRADPOOL_RANK_WARM_UP === '1'
    ? warmUpEngines((line) => process.stderr.write(`[rank process] ${line}\n`)).then((engines) => {
        warmDone = true;
        send({ type: 'warm', engines });
      })
    : Promise.resolve();

async function runRank(job: RankJobData, redisUrl: string, prefix: string, receivedAt: number, warm: boolean): Promise<void> {
  const { spec, rank, worldSize } = job;
  let comm: Communicator | null = null;
  let engine: Engine | null = null;
  try {
    let sync: GradientSync = new SingleProcessSync();
    if (worldSize > 1) {
      try {
        // The rendezvous is the gang barrier: nobody trains until every rank has arrived.
        comm = await Communicator.init({
          backend: (process.env.GRADPOOL_COLLECTIVE as 'auto' | undefined) ?? 'auto',
          rank,
          worldSize,
          runId: `${prefix}.${job.runId}.a${job.attempt}`.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 128),
          rendezvous: { redisUrl },
          rendezvousTimeoutMs: job.gangDeadlineMs,
          // A rank may wait this long for rank 0 to evaluate or checkpoint; a dead peer is noticed at once.
          timeoutMs: Number(process.env.GRADPOOL_COLLECTIVE_TIMEOUT_MS ?? 30 * 60_000),
          log: (line) => process.stderr.write(`[rank ${rank}] collectives: ${line}\n`),
        });
      } catch (e) {
        const gang = e instanceof CollectiveError && e.code === 'RENDEZVOUS';
        send({ type: 'failed', message: (e as Error).message, gang });
        return;
      }
      sync = new CommunicatorSync(comm);
    }
    const rendezvousAt = Date.now();
    // The engine computes where the rendezvous placed this rank: the NCCL device under nccl.
    // Rank 0's initial weights are broadcast to the others, so only rank 0 reads init_from.
    engine = await createRunEngine(spec, !job.resume && rank === 0 ? 'init' : 'replaced', comm ? torchDeviceFor(comm.placement) : undefined);
    const refused = cpuEngineOnGpuProblem(workerGpu(), spec.job.engine, engine.info);
    if (refused) throw new Error(refused);
    send({ type: 'ready', engine: `${engine.info.engine}/${engine.info.backend}` });
    const t = job.startup;
    const seconds = (from: number, to: number) => Math.round(to - from) / 1000;
    // Where the time from entering the queue (submit, or the previous attempt's end) to training went.
    const startup = {
      attempt: job.attempt,
      queued_s: seconds(t.queuedAt, t.placedAt),
      prepare_s: seconds(t.placedAt, t.preparedAt),
      dispatch_s: seconds(t.preparedAt, receivedAt),
      rendezvous_s: seconds(receivedAt, rendezvousAt),
      engine_build_s: seconds(rendezvousAt, Date.now()),
      warm_rank_process: warm,
    };
    if (rank === 0) writeSavedParams(spec, engine.info, { world_size: worldSize, attempt: job.attempt });
    const r = await trainRun(spec, {
      engine,
      sync,
      resume: job.resume,
      shouldStop: () => stopRequested,
      startup,
      // Every rank reports to its worker (metrics); the worker forwards rank 0's as progress.
      onStep: (report) => send({ type: 'step', report, worldSize, peakRssBytes: process.resourceUsage().maxRSS * 1024 }),
    });
    send({
      type: 'done',
      result: {
        rank,
        finished: r.state.finished,
        stopReason: r.state.stopReason,
        steps: r.state.globalStep,
        runDir: spec.runDir,
        bestCheckpoint: r.bestPath,
        lastCheckpoint: r.lastPath,
        hfDir: r.state.finished && r.state.best ? `${spec.runDir}/hf` : null,
        firstEval: r.firstEval,
        lastEval: r.lastEval,
        best: r.state.best ? { metric: r.state.best.metric, value: r.state.best.value } : null,
      },
    });
  } catch (e) {
    // The user reads the message (run status, CLI); the stack goes to this worker's log.
    process.stderr.write(`[rank ${rank}] ${(e as Error).stack ?? String(e)}\n`);
    send({ type: 'failed', message: userMessage(e), gang: false });
  } finally {
    await comm?.destroy().catch(() => {});
    engine?.dispose();
  }
}

/** An error as one line for people: its message, and its kind when that says more than "Error". */
function userMessage(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const kind = e.name && !['Error', 'TrainingError', 'FileWriteError'].includes(e.name) ? `${e.name}: ` : '';
  return `${kind}${e.message}`;
}

process.on('message', (m: ToRank) => {
  if (m.type === 'stop') stopRequested = true;
  else if (m.type === 'start') {
    const receivedAt = Date.now();
    const warm = warmDone;
    warming.then(() => runRank(m.job, m.redisUrl, m.prefix, receivedAt, warm)).then(
      () => process.disconnect?.(),
      () => process.disconnect?.(),
    );
  }
});
// The worker decides when to stop; a terminal's Ctrl-C reaches the whole group, so ask nicely once.
process.on('SIGINT', () => (stopRequested = true));
process.on('SIGTERM', () => (stopRequested = true));
