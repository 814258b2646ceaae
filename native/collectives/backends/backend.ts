/** What the Communicator needs from each backend. */
import type { RankDevice } from '../placement.ts';
import type { CommunicatorOptions } from '../types.ts';
import type { NativeAddon } from '../native.ts';
import type { Rendezvous } from '../rendezvous.ts';

export interface BackendContext {
  addon: NativeAddon;
  rdzv: Rendezvous<unknown>;
  opts: CommunicatorOptions;
  rank: number;
  worldSize: number;
  timeoutMs: number;
  runId: string;
  tag: string;
  /** This rank's position among the ranks on its machine. */
  localRank: number;
  allLocal: boolean;
  /** The device rank 0 placed this rank on. */
  device: RankDevice;
}

export interface Backend {
  allReduce(buf: Float32Array, avg: boolean): Promise<void>;
  broadcast(buf: Float32Array, root: number): Promise<void>;
  barrier(): Promise<void>;
  sharedBuffer(n: number): Float32Array;
  allReduceDevice?(ptr: bigint, count: number, avg: boolean, afterStream?: bigint): Promise<void>;
  broadcastDevice?(ptr: bigint, count: number, root: number, afterStream?: bigint): Promise<void>;
  abort(reason: string): void;
  /** graceful: every operation of this rank succeeded and it is not quitting on an error. */
  close(graceful: boolean): Promise<void>;
  /** Operations queued or running, from JS and from the C ABI. */
  pending(): number;
  /** The External carrying the C ABI table (native/include/gradpool/collectives_abi.h). */
  collectiveAbi(): object;
  /** True when this backend's own errors already name the rank at fault. */
  readonly namesFaultyRank: boolean;
  versions(): Record<string, string>;
  device(): string;
  details(): Record<string, unknown>;
}
