import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { toRunResultJson, type RunResultJson } from '../protocol/messages.ts';
import type { RankResult } from '../protocol/rank-job.ts';
import { runPaths } from '../train/run-spec.ts';
import type { AttemptOutcome } from './scheduling/index.ts';

/** A run's return value: gradpool.v1.RunResult as JSON. */
export type RunOutcome = RunResultJson;

/** How one rank of an attempt ended. */
export type RankSettled = { ok: true; result: RankResult } | { ok: false; reason: string };

/**
 * The result a producer reads. `last_checkpoint` is always the run's
 * `checkpoints/last.pth` (the file a resume reads), not the rotating step file
 * it is a link to; a paused or cancelled run still names its best checkpoint
 * and `hf/` folder when an evaluation made them.
 */
export function runOutcome(runId: string, runDir: string, r: RankResult | null, worldSize: number, attempts: number, cancelled: boolean): RunOutcome {
  const last = r?.lastCheckpoint ? runPaths(r.runDir).last : '';
  return toRunResultJson({
    run_id: runId,
    run_dir: r?.runDir ?? runDir,
    best_checkpoint: r?.bestCheckpoint ?? '',
    last_checkpoint: last,
    hf_dir: r?.hfDir ?? (r?.best && existsSync(join(r.runDir, 'hf', 'config.json')) ? join(r.runDir, 'hf') : ''),
    ...(r?.firstEval ? { first_eval: r.firstEval } : {}),
    ...(r?.lastEval ? { last_eval: r.lastEval } : {}),
    best_metric: r?.best?.metric ?? '',
    ...(r?.best ? { best_value: r.best.value } : {}),
    stop_reason: cancelled ? `cancelled${r?.stopReason ? ` (${r.stopReason})` : ''}` : (r?.stopReason ?? ''),
    steps: r?.steps ?? 0,
    finished: r?.finished ?? false,
    cancelled,
    world_size: worldSize,
    attempts,
  });
}

/**
 * Failures that are the infrastructure's, not the job's: a gang that did not
 * assemble, a rank process or worker that died, a collective that lost a
 * peer, a rank job removed unstarted. A restart may succeed after them.
 */
export function isInfrastructureFailure(reason: string): boolean {
  return /^(gang start|rank lost)|CollectiveError|worker \S+ lost|removed before a worker took it/.test(reason);
}

/**
 * What the scheduler is told when every rank of an attempt has settled:
 * the job's own error (any rank) fails the run; otherwise a lost rank is a
 * crash (it restarts), unless the coordinator had asked the attempt to stop
 * and only unstarted ranks failed (a pause before the gang formed).
 */
export function attemptOutcome(settled: Map<number, RankSettled>, o: { stopRequested: boolean; cancelled: boolean }): { outcome: AttemptOutcome; reason: string; result: RankResult | null } {
  const failures = [...settled.entries()].filter((e): e is [number, { ok: false; reason: string }] => !e[1].ok).sort((a, b) => a[0] - b[0]);
  const rank0 = settled.get(0);
  const result = rank0?.ok ? rank0.result : null;
  if (failures.length === 0) {
    if (result?.finished) return { outcome: 'completed', reason: result.stopReason ?? 'done', result };
    return { outcome: o.cancelled ? 'cancelled' : 'paused', reason: result?.stopReason ?? 'paused', result };
  }
  const own = failures.find(([, f]) => !isInfrastructureFailure(f.reason));
  if (own) return { outcome: 'failed', reason: `rank ${own[0]}: ${own[1].reason}`, result };
  const [rank, first] = failures.find(([, f]) => !/^gang start|removed before/.test(f.reason)) ?? failures[0]!;
  if (o.stopRequested && failures.every(([, f]) => /^gang start|removed before/.test(f.reason))) return { outcome: o.cancelled ? 'cancelled' : 'paused', reason: 'stopped before its gang formed', result };
  return { outcome: 'crashed', reason: `rank ${rank}: ${first.reason}`, result };
}
