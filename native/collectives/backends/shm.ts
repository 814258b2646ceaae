/**
 * shm backend setup: rank 0 creates the control segment, the others map it
 * once rank 0 announces it, and the segment's name is removed as soon as
 * every rank has mapped it. Names carry a hash of run id + tag and the
 * rendezvous generation, so two runs can never open each other's segments.
 */
import { createHash } from 'node:crypto';
import type { NativeShmComm } from '../native.ts';
import type { Backend, BackendContext } from './backend.ts';

export function shmBaseName(runId: string, tag: string, generation: string): string {
  const h = createHash('sha256').update(`${runId}\0${tag}`).digest('hex').slice(0, 12);
  return `/gradpool-${h}-${generation}`;
}

export async function setupShm(ctx: BackendContext): Promise<Backend> {
  const { addon, rdzv, rank, worldSize, timeoutMs } = ctx;
  const name = shmBaseName(ctx.runId, ctx.tag, rdzv.generation);
  const envChunk = Number(process.env.GRADPOOL_SHM_CHUNK_BYTES);
  const chunkBytes = ctx.opts.shm?.chunkBytes ?? (envChunk > 0 ? envChunk : 16 << 20);
  const make = (create: boolean) => new addon.ShmComm({ name, rank, worldSize, create, chunkBytes, timeoutMs });
  let comm: NativeShmComm | undefined;
  try {
    if (rank === 0) {
      let created: NativeShmComm | Error;
      try {
        created = make(true);
      } catch (err) {
        created = err as Error;
      }
      await rdzv.allGather('shm', created instanceof Error ? created : name);
      comm = created as NativeShmComm;
    } else {
      await rdzv.allGather('shm', 'ready');
      comm = make(false);
    }
    await comm.start();
  } catch (err) {
    await comm?.close();
    throw err;
  }
  const c = comm;
  return {
    namesFaultyRank: true,
    allReduce: (buf, avg) => c.allReduce(buf, avg),
    broadcast: (buf, root) => c.broadcast(buf, root),
    barrier: () => c.barrier(),
    sharedBuffer: (n) => c.sharedBuffer(n),
    abort: (reason) => c.abort(reason),
    close: () => c.close(),
    pending: () => c.pending(),
    collectiveAbi: () => c.collectiveAbi(),
    versions: () => ({}),
    device: () => 'cpu',
    details: () => ({ segment: name, chunkBytes: c.info().chunkBytes }),
  };
}
