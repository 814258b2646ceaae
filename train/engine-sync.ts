/**
 * Which path a step's gradient sum takes. `engine`: the engine all-reduces
 * its own gradient through the communicator's C ABI, bucket by bucket while
 * the last micro-batch's backward runs (DDP's overlap; on a GPU the gradient
 * never leaves it). `host`: after backward, the trainer all-reduces the
 * engine's host gradient buffer in one piece (tfjs, or a CUDA engine whose
 * ranks share a GPU and so reduce through shm/gloo). Both sum the same
 * values in the same per-element order, so the choice does not change the
 * result.
 */
import type { Engine } from '../engine/engine.ts';
import type { GradientSync } from './gradient-sync.ts';

export type GradientPath = 'engine' | 'host';

export interface EngineSyncOptions {
  /** GRADPOOL_GRAD_SYNC: `auto` (default: engine where it attaches), `engine` (required) or `host`. */
  mode?: string;
  /** GRADPOOL_BUCKET_MB, default 25 (DDP's bucket_cap_mb). */
  bucketBytes?: number;
  log?: (line: string) => void;
}

/** Attaches the communicator to the engine when the mode allows and the engine can; returns the path taken. */
export function chooseGradientPath(engine: Engine, sync: GradientSync, o: EngineSyncOptions = {}): GradientPath {
  const mode = o.mode ?? process.env.GRADPOOL_GRAD_SYNC ?? 'auto';
  if (!['auto', 'engine', 'host'].includes(mode)) {
    throw new Error(`GRADPOOL_GRAD_SYNC: ${JSON.stringify(mode)} is not one of auto, engine, host`);
  }
  if (mode === 'host' || sync.worldSize === 1) return 'host';
  const bucketBytes = o.bucketBytes ?? bucketBytesFromEnv();
  let why: string;
  if (!engine.collectives) why = `the ${engine.info.engine} engine cannot all-reduce its own gradient`;
  else if (!sync.collectiveAbi) why = 'the gradient sync has no communicator ABI';
  else {
    const r = engine.collectives.attachCollectives(sync.collectiveAbi(), { bucketBytes });
    if (r.attached) {
      o.log?.(`gradient sync: in the engine, ${r.buckets} bucket(s) of up to ${(bucketBytes / 2 ** 20).toFixed(0)} MiB, overlapped with backward`);
      return 'engine';
    }
    why = r.why ?? 'refused';
  }
  if (mode === 'engine') throw new Error(`GRADPOOL_GRAD_SYNC=engine: ${why}`);
  o.log?.(`gradient sync: on the host after backward (${why})`);
  return 'host';
}

function bucketBytesFromEnv(): number {
  const raw = process.env.GRADPOOL_BUCKET_MB;
  if (raw === undefined || raw === '') return 25 * 2 ** 20;
  const mb = Number(raw);
  if (!(mb > 0)) throw new Error(`GRADPOOL_BUCKET_MB: ${JSON.stringify(raw)} is not a positive number of MiB`);
  return Math.max(4, Math.round(mb * 2 ** 20));
}

/**
 * Every rank must take the same path (the engine path sends the gradient before the step's
 * stats, the host path after): when some ranks could not attach (e.g. a CUDA engine next to
 * a CPU one over shm), all of them fall back to the host path. One small all-reduce.
 */
export async function agreeGradientPath(engine: Engine, sync: GradientSync, path: GradientPath, log?: (line: string) => void): Promise<GradientPath> {
  if (sync.worldSize === 1) return path;
  const votes = Float32Array.of(path === 'engine' ? 1 : 0);
  await sync.allReduceSum(votes);
  if (votes[0] === sync.worldSize || votes[0] === 0) return path;
  if (path === 'engine') engine.collectives!.detachCollectives();
  log?.(`gradient sync: on the host after backward (${sync.worldSize - votes[0]!} of ${sync.worldSize} rank(s) cannot sync in their engine)`);
  return 'host';
}
