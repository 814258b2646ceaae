/**
 * nccl backend setup: rank 0 makes the unique id, the rendezvous carries it
 * to the others, and each rank initialises its communicator on the device
 * rank 0 placed it on. The native side watches peers on this host by pid
 * while work is pending; peers on other hosts are watched here through their
 * Redis heartbeats, since a vanished host may never close its connections.
 */
import { CollectiveError } from '../errors.ts';
import type { Backend, BackendContext } from './backend.ts';

const WATCH_EVERY_MS = 2000;
/** A remote rank whose heartbeat is this old (or gone) while work is pending is dead. */
const REMOTE_DEAD_AFTER_MS = 60_000;
const DEFAULT_FINALIZE_TIMEOUT_MS = 10_000;

export async function setupNccl(ctx: BackendContext): Promise<Backend> {
  const { addon, rdzv, rank, worldSize, timeoutMs, opts } = ctx;
  const probe = addon.ncclProbe();
  let id: Buffer | Error | null = null;
  if (rank === 0) {
    try {
      id = addon.ncclUniqueId();
    } catch (err) {
      id = err as Error;
    }
  }
  const ids = await rdzv.allGather<string | null>('nccl', id instanceof Error ? id : id ? id.toString('base64') : null);
  if (ctx.device.index < 0) throw new CollectiveError('UNAVAILABLE', `rank ${rank} has no GPU for NCCL`);
  const self = rdzv.peers[rank]!;
  const others = rdzv.peers.filter((p) => p.rank !== rank);
  const local = others.filter((p) => p.hostKey === self.hostKey && p.pidns === self.pidns);
  const remote = others.filter((p) => !local.includes(p));
  const c = new addon.NcclComm({
    rank, worldSize, device: ctx.device.index, id: Buffer.from(ids[0] ?? '', 'base64'), timeoutMs,
    initTimeoutMs: opts.nccl?.initTimeoutMs ?? opts.rendezvousTimeoutMs ?? timeoutMs,
    finalizeTimeoutMs: opts.nccl?.finalizeTimeoutMs ?? DEFAULT_FINALIZE_TIMEOUT_MS,
    localPeers: local.map((p) => ({ rank: p.rank, pid: p.pid })),
  });
  const onAbort = () => c.abort(`init aborted: ${String(opts.signal?.reason ?? 'signal')}`);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (opts.signal?.aborted) onAbort();
    await c.init();
  } catch (err) {
    await c.close(false);
    throw err;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
  const watch = remote.length > 0 ? setInterval(() => void watchRemote(), WATCH_EVERY_MS) : undefined;
  watch?.unref();
  async function watchRemote(): Promise<void> {
    if (c.pending() === 0) return;
    const stale = await rdzv.staleHeartbeats(REMOTE_DEAD_AFTER_MS).catch(() => [] as number[]);
    const dead = remote.find((p) => stale.includes(p.rank));
    if (dead) {
      c.abortPeer(dead.rank, `rank ${dead.rank} (pid ${dead.pid} on ${dead.host}) stopped heartbeating for ${REMOTE_DEAD_AFTER_MS / 1000} s`);
    }
  }
  let closed: { finalized: boolean; how: string } | undefined;
  return {
    namesFaultyRank: false,
    allReduce: (buf, avg) => c.allReduce(buf, avg),
    allReduceDevice: (ptr, count, avg, after) => c.allReduceDevice(ptr, count, avg, after),
    broadcast: (buf, root) => c.broadcast(buf, root),
    broadcastDevice: (ptr, count, root, after) => c.broadcastDevice(ptr, count, root, after),
    barrier: () => c.barrier(),
    sharedBuffer: (n) => new Float32Array(n),
    abort: (reason) => c.abort(reason),
    close: async (graceful) => {
      clearInterval(watch);
      closed = await c.close(graceful);
    },
    pending: () => c.pending(),
    collectiveAbi: () => c.collectiveAbi(),
    versions: () => ({
      ...(probe.ncclVersion ? { nccl: probe.ncclVersion } : {}),
      ...(probe.cudartVersion ? { cudart: String(probe.cudartVersion) } : {}),
      ...(probe.driverVersion ? { cudaDriver: String(probe.driverVersion) } : {}),
    }),
    device: () => {
      const i = c.info();
      return `cuda:${i.device}${i.busId ? ` (${i.busId})` : ''}`;
    },
    details: () => ({
      ncclLibrary: probe.ncclLibrary,
      cudartLibrary: probe.cudartLibrary,
      localPeers: local.map((p) => p.rank),
      ...(closed ? { closed } : {}),
    }),
  };
}
