/**
 * nccl backend setup: rank 0 makes the unique id, the rendezvous carries it
 * to the others, and each rank initialises its communicator on its device.
 */
import type { Backend, BackendContext } from './backend.ts';

export async function setupNccl(ctx: BackendContext): Promise<Backend> {
  const { addon, rdzv, rank, worldSize, timeoutMs } = ctx;
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
  const device = ctx.opts.nccl?.device ?? ctx.localRank % Math.max(1, probe.devices ?? 1);
  const c = new addon.NcclComm({ rank, worldSize, device, id: Buffer.from(ids[0] ?? '', 'base64'), timeoutMs });
  try {
    await c.init();
  } catch (err) {
    c.close();
    throw err;
  }
  return {
    namesFaultyRank: false,
    allReduce: (buf, avg) => c.allReduce(buf, avg),
    allReduceDevice: (ptr, count, avg) => c.allReduceDevice(ptr, count, avg),
    broadcast: (buf, root) => c.broadcast(buf, root),
    broadcastDevice: (ptr, count, root) => c.broadcastDevice(ptr, count, root),
    barrier: () => c.barrier(),
    sharedBuffer: (n) => new Float32Array(n),
    abort: () => c.abort(),
    close: () => c.close(),
    versions: () => ({
      ...(probe.ncclVersion ? { nccl: probe.ncclVersion } : {}),
      ...(probe.cudartVersion ? { cudart: String(probe.cudartVersion) } : {}),
      ...(probe.driverVersion ? { cudaDriver: String(probe.driverVersion) } : {}),
    }),
    device: () => {
      const i = c.info();
      return `cuda:${i.device}${i.busId ? ` (${i.busId})` : ''}`;
    },
    details: () => ({ ncclLibrary: probe.ncclLibrary, cudartLibrary: probe.cudartLibrary }),
  };
}
