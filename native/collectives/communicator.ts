/**
 * Communicator: gradient all-reduce (and broadcast/barrier) across the
 * workers of one training run. See native/README.md for the design.
 *
 * Collectives of one communicator run strictly in call order (a promise
 * queue), each off the main thread; after any failure the communicator is
 * broken: every later call rejects with BROKEN and the caller destroys it and
 * builds a new one (a new init gets a new rendezvous generation).
 */
import { setupGloo } from './backends/gloo.ts';
import { setupNccl } from './backends/nccl.ts';
import { setupShm } from './backends/shm.ts';
import type { Backend, BackendContext } from './backends/backend.ts';
import { chooseBackend, type Capabilities, type Decision } from './choose-backend.ts';
import { CollectiveError, fromNative } from './errors.ts';
import { findDeadPeers, localIdentity } from './liveness.ts';
import { loadNative } from './native.ts';
import { Rendezvous, type PeerInfo } from './rendezvous.ts';
import type { BackendChoice, BackendName, CommunicatorDescription, CommunicatorOptions, Placement, ReduceOp } from './types.ts';

const NAME_RE = /^[A-Za-z0-9._-]{1,128}$/;

export class Communicator {
  /** JS-API operations not settled yet (destroy waits for them). */
  private readonly inflight = new Set<Promise<void>>();
  private failure: CollectiveError | undefined;
  private destroyed = false;
  private destroying: Promise<void> | undefined;
  private seq = 0;

  private constructor(
    private readonly backendImpl: Backend,
    private readonly rdzv: Rendezvous<Decision>,
    private readonly self: PeerInfo,
    readonly backend: BackendName,
    readonly rank: number,
    readonly worldSize: number,
    private readonly runId: string,
    private readonly tag: string,
    /** The device rank 0 placed this rank on (the NCCL device under nccl). */
    readonly placement: Placement,
  ) {}

  /** Rendezvous through Redis, pick the backend, connect. Every rank of the run must call it. */
  static async init(opts: CommunicatorOptions): Promise<Communicator> {
    const { rank, worldSize, runId } = opts;
    const tag = opts.tag ?? 'main';
    const timeoutMs = opts.timeoutMs ?? 60_000;
    const requested: BackendChoice = opts.backend ?? 'auto';
    if (!Number.isInteger(worldSize) || worldSize < 1) throw new CollectiveError('MISMATCH', `invalid worldSize ${worldSize}`);
    if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) {
      throw new CollectiveError('MISMATCH', `rank ${rank} is outside worldSize ${worldSize}`);
    }
    if (!NAME_RE.test(runId) || !NAME_RE.test(tag)) {
      throw new CollectiveError('MISMATCH', `runId and tag must match ${NAME_RE} (got '${runId}', '${tag}')`);
    }
    if (!['auto', 'nccl', 'shm', 'gloo'].includes(requested)) {
      throw new CollectiveError('MISMATCH', `unknown backend '${requested}'`);
    }
    const addon = loadNative();
    if (opts.signal?.aborted) throw new CollectiveError('ABORTED', `init aborted before it started: ${String(opts.signal.reason)}`, rank);
    // Every rank reports the GPUs it sees (bus ids), so rank 0 can place them.
    const probe = addon.ncclProbe();
    const caps: Capabilities = {
      requested, nccl: probe.ok, ncclWhy: probe.reason, gloo: addon.features.gloo,
      gpus: probe.busIds ?? [], ...(opts.nccl?.device !== undefined ? { requestedDevice: opts.nccl.device } : {}),
    };
    // An explicit request that cannot work here fails before the rendezvous.
    if (requested === 'nccl' && !probe.ok) throw new CollectiveError('UNAVAILABLE', probe.reason ?? 'nccl backend unavailable');
    if (requested === 'gloo' && !caps.gloo) {
      throw new CollectiveError('UNAVAILABLE', 'the gloo backend is not part of this build: install libgloo-dev and run `npm run build:native`');
    }

    const rdzv = await Rendezvous.join<Decision>({
      redisUrl: opts.rendezvous.redisUrl, runId, tag, rank, worldSize, timeoutMs: opts.rendezvousTimeoutMs ?? timeoutMs,
      info: { ...localIdentity(), ...caps }, decide: chooseBackend, signal: opts.signal,
    });
    const self = rdzv.peers[rank]!;
    const local = rdzv.peers.filter((p) => p.hostKey === self.hostKey);
    const device = rdzv.decision.devices[rank]!;
    const ctx: BackendContext = {
      addon, rdzv: rdzv as Rendezvous<unknown>, opts, rank, worldSize, timeoutMs, runId, tag,
      localRank: local.findIndex((p) => p.rank === rank),
      allLocal: local.length === worldSize,
      device,
    };
    const backend = rdzv.decision.backend;
    if (rdzv.decision.note) (opts.log ?? defaultLog)(`rank ${rank}: ${rdzv.decision.note}`);
    try {
      const impl = await (backend === 'shm' ? setupShm(ctx) : backend === 'gloo' ? setupGloo(ctx) : setupNccl(ctx));
      try {
        if (rank === 0) await rdzv.finishInit();
      } catch (err) {
        await impl.close(false);
        throw err;
      }
      rdzv.startHeartbeat();
      const placement: Placement = device.index >= 0 && device.busId
        ? { type: 'cuda', index: device.index, busId: device.busId }
        : { type: 'cpu' };
      return new Communicator(impl, rdzv, self, backend, rank, worldSize, runId, tag, placement);
    } catch (err) {
      await rdzv.abandon().catch(() => undefined);
      throw fromNative(err, `${backend} communicator setup failed on rank ${rank}`);
    }
  }

  /** Sums (or averages) `buf` across all ranks, in place. */
  allReduce(buf: Float32Array, op: ReduceOp = 'sum'): Promise<void> {
    checkOp(op);
    return this.enqueue('allReduce', () => this.backendImpl.allReduce(buf, op === 'avg'));
  }

  /**
   * In-place all-reduce of `count` floats in GPU memory at `ptr` (nccl only),
   * ordered after the work enqueued so far on `afterStream` (a cudaStream_t
   * address; default: the legacy default stream) by an event, on the
   * communicator's own stream. The promise settles when it has finished.
   */
  allReduceDevice(ptr: bigint, count: number, op: ReduceOp = 'sum', afterStream?: bigint): Promise<void> {
    checkOp(op);
    const f = this.backendImpl.allReduceDevice;
    if (!f) return Promise.reject(new CollectiveError('UNAVAILABLE', `allReduceDevice needs the nccl backend (this is ${this.backend})`));
    return this.enqueue('allReduceDevice', () => f(ptr, count, op === 'avg', afterStream));
  }

  /**
   * The C ABI of this communicator for another native addon (the libtorch
   * engine): a type-tagged External holding `const gp_coll_abi*`, see
   * native/include/gradpool/collectives_abi.h. Its operations share this
   * communicator's queue with the JS calls, in call order.
   */
  collectiveAbi(): object {
    this.assertUsable();
    return this.backendImpl.collectiveAbi();
  }

  /** Copies root's `buf` into every other rank's `buf`. */
  broadcast(buf: Float32Array, root = 0): Promise<void> {
    return this.enqueue('broadcast', () => this.backendImpl.broadcast(buf, root));
  }

  barrier(): Promise<void> {
    return this.enqueue('barrier', () => this.backendImpl.barrier());
  }

  /**
   * A Float32Array of n zeros for the trainer to write gradients into. With
   * shm it lives in shared memory, so allReduce on it (or on a subarray of
   * it) skips the copy in and out. Other backends return a plain array. The
   * view is detached (length 0) once the communicator is destroyed.
   */
  sharedBuffer(n: number): Float32Array {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`sharedBuffer length must be a non-negative integer, got ${n}`);
    this.assertUsable();
    try {
      return this.backendImpl.sharedBuffer(n);
    } catch (err) {
      throw fromNative(err, 'sharedBuffer');
    }
  }

  /**
   * Fails this communicator now, and (shm, nccl) the collectives in flight;
   * peers fail at their next synchronisation point. Destroy it afterwards.
   */
  abort(reason = 'abort() called'): void {
    if (this.destroyed) return;
    this.failure ??= new CollectiveError('ABORTED', `communicator aborted on rank ${this.rank}: ${reason}`, this.rank);
    this.backendImpl.abort(reason);
  }

  /**
   * Waits for this rank's JS operations, then frees everything: segments,
   * sockets, Redis keys. `abort: true` (a rank quitting on its own error)
   * fails pending operations first and skips the graceful shutdown, which
   * for nccl is a collective step (ncclCommFinalize) the other ranks may
   * never reach; it runs off the JS thread and is bounded either way.
   */
  destroy(opts: { abort?: boolean } = {}): Promise<void> {
    this.destroying ??= (async () => {
      if (opts.abort) this.abort('destroyed after an error on this rank');
      await Promise.allSettled([...this.inflight]);
      this.destroyed = true;
      await this.backendImpl.close(!opts.abort && this.failure === undefined).catch(() => undefined);
      await this.rdzv.close(this.failure !== undefined).catch(() => undefined);
    })();
    return this.destroying;
  }

  /** Operations queued or running, from JS and from the C ABI. */
  pending(): number {
    return this.destroyed ? 0 : this.backendImpl.pending();
  }

  describe(): CommunicatorDescription {
    return {
      backend: this.backend,
      rank: this.rank,
      worldSize: this.worldSize,
      runId: this.runId,
      tag: this.tag,
      generation: this.rdzv.generation,
      hosts: this.rdzv.peers.map((p) => p.host),
      versions: { node: process.versions.node, ...this.backendImpl.versions() },
      device: this.backendImpl.device(),
      placement: this.placement,
      details: this.backendImpl.details(),
    };
  }

  private assertUsable(): void {
    if (this.destroyed || this.destroying) throw new CollectiveError('BROKEN', 'communicator is destroyed');
    if (this.failure) {
      throw new CollectiveError('BROKEN', `communicator is unusable after an earlier failure (${this.failure.message}); destroy it and create a new one`, this.failure.rank);
    }
  }

  /**
   * Submits at once: the native queue runs operations in submission order
   * (shared with the C ABI), so there is no ordering to keep here.
   */
  private enqueue(what: string, fn: () => Promise<void>): Promise<void> {
    const n = ++this.seq;
    let started: Promise<void>;
    try {
      this.assertUsable();
      started = fn();
    } catch (err) {
      started = Promise.reject(err);
    }
    const p = started.catch(async (err: unknown) => {
      throw await this.explain(err, `${what} #${n}`);
    });
    this.inflight.add(p);
    void p.catch(() => undefined).finally(() => this.inflight.delete(p));
    return p;
  }

  /** Turns a backend failure into one error naming the rank at fault, and marks us broken. */
  private async explain(err: unknown, what: string): Promise<CollectiveError> {
    let e = fromNative(err);
    if (e.code === 'BROKEN' && this.failure) return e;
    if (!this.backendImpl.namesFaultyRank && e.code !== 'MISMATCH' && e.code !== 'ABORTED') {
      const dead = await findDeadPeers(this.rdzv as Rendezvous<unknown>, this.self).catch(() => []);
      if (dead.length > 0) {
        e = new CollectiveError('PEER_DIED', `${this.backend} ${what} failed: ${dead.map((d) => d.why).join('; ')} (${e.message})`, dead[0]!.rank, { cause: err });
      }
    }
    if (!e.message.startsWith(this.backend)) {
      e = new CollectiveError(e.code, `${this.backend} ${what} failed on rank ${this.rank}: ${e.message}`, e.rank, { cause: err });
    }
    this.failure ??= e;
    return e;
  }
}

function defaultLog(line: string): void {
  console.log(`[gradpool] collectives: ${line}`);
}

function checkOp(op: string): void {
  if (op !== 'sum' && op !== 'avg') throw new CollectiveError('MISMATCH', `unknown reduce op '${op}' (use 'sum' or 'avg')`);
}
