/**
 * gloo backend setup: each rank opens a TCP listener per peer, the addresses
 * are exchanged through the rendezvous, then every pair connects.
 */
import { hostname } from 'node:os';
import { CollectiveError } from '../errors.ts';
import type { Backend, BackendContext } from './backend.ts';

export async function setupGloo(ctx: BackendContext): Promise<Backend> {
  const { addon, rdzv, rank, worldSize, timeoutMs } = ctx;
  if (!addon.GlooComm) {
    throw new CollectiveError('UNAVAILABLE', 'the gloo backend is not part of this build: install libgloo-dev and run `npm run build:native`');
  }
  const iface = ctx.opts.gloo?.iface ?? process.env.GRADPOOL_GLOO_IFACE;
  const host = ctx.opts.gloo?.hostname ?? process.env.GRADPOOL_GLOO_HOSTNAME ?? (ctx.allLocal ? '127.0.0.1' : hostname());
  let comm;
  try {
    comm = new addon.GlooComm({ rank, worldSize, timeoutMs, ...(iface ? { iface } : { hostname: host }) });
  } catch (err) {
    await rdzv.allGather('gloo', err as Error);
    throw err;
  }
  const c = comm;
  try {
    const mine = c.addresses().map((b) => b.toString('base64'));
    const all = await rdzv.allGather<string[]>('gloo', mine);
    const forMe = all.map((addrs, q) => (q === rank ? Buffer.alloc(0) : Buffer.from(addrs[rank] ?? '', 'base64')));
    await c.connect(forMe);
    await c.barrier();
  } catch (err) {
    await c.close();
    throw err;
  }
  return {
    namesFaultyRank: false,
    allReduce: (buf, avg) => c.allReduce(buf, avg),
    broadcast: (buf, root) => c.broadcast(buf, root),
    barrier: () => c.barrier(),
    sharedBuffer: (n) => new Float32Array(n),
    abort: (reason) => c.abort(reason),
    close: () => c.close(),
    pending: () => c.pending(),
    collectiveAbi: () => c.collectiveAbi(),
    versions: (): Record<string, string> => (addon.features.glooVersion ? { gloo: addon.features.glooVersion } : {}),
    device: () => 'cpu',
    details: () => ({ transport: 'tcp', listen: iface ? `iface ${iface}` : host }),
  };
}
