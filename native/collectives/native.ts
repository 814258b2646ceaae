/**
 * Loads the compiled addon (native/build/Release/gradpool_collectives.node)
 * and types its surface. A missing build becomes one clear error at the
 * first use, never at import time, so code paths that never communicate
 * (single-worker training, tooling) work without it.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { CollectiveError } from './errors.ts';

/** What every native communicator has: a queue of operations and the C ABI for other addons. */
export interface NativeQueued {
  /** Operations queued or running (JS API and C ABI together). */
  pending(): number;
  /** A type-tagged External holding `const gp_coll_abi*` (native/include/gradpool/collectives_abi.h). */
  collectiveAbi(): object;
}

export interface NativeShmComm extends NativeQueued {
  start(): Promise<void>;
  allReduce(buf: Float32Array, avg: boolean): Promise<void>;
  broadcast(buf: Float32Array, root: number): Promise<void>;
  barrier(): Promise<void>;
  sharedBuffer(n: number): Float32Array;
  abort(reason: string): void;
  close(): Promise<void>;
  info(): { chunkBytes: number };
}

export interface NativeGlooComm extends NativeQueued {
  addresses(): Buffer[];
  connect(forMe: Buffer[]): Promise<void>;
  allReduce(buf: Float32Array, avg: boolean): Promise<void>;
  broadcast(buf: Float32Array, root: number): Promise<void>;
  barrier(): Promise<void>;
  abort(reason: string): void;
  close(): Promise<void>;
}

export interface NcclCloseResult {
  /** True when ncclCommFinalize completed on every rank and the communicator was destroyed; false: aborted. */
  finalized: boolean;
  how: string;
}

export interface NativeNcclComm extends NativeQueued {
  init(): Promise<void>;
  allReduce(buf: Float32Array, avg: boolean): Promise<void>;
  /** afterStream: a cudaStream_t whose work so far the all-reduce waits for (default: the legacy default stream). */
  allReduceDevice(ptr: bigint, count: number, avg: boolean, afterStream?: bigint): Promise<void>;
  broadcast(buf: Float32Array, root: number): Promise<void>;
  broadcastDevice(ptr: bigint, count: number, root: number, afterStream?: bigint): Promise<void>;
  barrier(): Promise<void>;
  abort(reason: string): void;
  /** A peer found dead by the caller (remote heartbeats): fails pending work with PEER_DIED naming it. */
  abortPeer(rank: number, why: string): void;
  /** Finalizes (graceful and healthy) or aborts, off the JS thread. */
  close(graceful: boolean): Promise<NcclCloseResult>;
  info(): { device: number; busId: string };
}

export interface NcclProbe {
  ok: boolean;
  reason?: string;
  ncclVersion?: string;
  ncclLibrary?: string;
  cudartVersion?: number;
  cudartLibrary?: string;
  driverVersion?: number;
  devices?: number;
  /** PCI bus id of each visible device, by CUDA ordinal (CUDA_DEVICE_ORDER=PCI_BUS_ID). */
  busIds?: string[];
}

export interface NativeAddon {
  features: { shm: boolean; gloo: boolean; nccl: boolean; glooVersion?: string };
  ShmComm: new (opts: {
    name: string; rank: number; worldSize: number; create: boolean; chunkBytes?: number; timeoutMs: number;
  }) => NativeShmComm;
  GlooComm?: new (opts: {
    rank: number; worldSize: number; hostname?: string; iface?: string; timeoutMs: number;
  }) => NativeGlooComm;
  NcclComm: new (opts: {
    rank: number; worldSize: number; device: number; id: Buffer; timeoutMs: number;
    initTimeoutMs?: number; finalizeTimeoutMs?: number;
    /** Peers on this host in this pid namespace: watched by pid while work is pending. */
    localPeers?: Array<{ rank: number; pid: number }>;
  }) => NativeNcclComm;
  ncclProbe(): NcclProbe;
  ncclUniqueId(): Buffer;
  /** Seconds per memcpy of `bytes`, one entry per repetition (after a warm-up). */
  memcpyTimes(bytes: number, reps: number): number[];
}

const defaultPath = fileURLToPath(new URL('../build/Release/gradpool_collectives.node', import.meta.url));
let cached: NativeAddon | undefined;

/** The addon, or a CollectiveError('UNAVAILABLE') that says how to build it. */
export function loadNative(): NativeAddon {
  if (cached) return cached;
  const path = process.env.GRADPOOL_NATIVE_ADDON || defaultPath;
  try {
    cached = createRequire(import.meta.url)(path) as NativeAddon;
    return cached;
  } catch (err) {
    throw new CollectiveError(
      'UNAVAILABLE',
      `the gradpool collectives addon is not built or cannot be loaded (${path}: ${(err as Error).message}). ` +
        'Build it with `npm run build:native` (needs g++ with C++17, make and python3; ' +
        'the gloo backend additionally needs libgloo-dev).',
      undefined,
      { cause: err },
    );
  }
}
