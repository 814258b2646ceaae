/** What the Communicator needs from each backend. */
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
}

export interface Backend {
  allReduce(buf: Float32Array, avg: boolean): Promise<void>;
  broadcast(buf: Float32Array, root: number): Promise<void>;
  barrier(): Promise<void>;
  sharedBuffer(n: number): Float32Array;
  allReduceDevice?(ptr: bigint, count: number, avg: boolean): Promise<void>;
  broadcastDevice?(ptr: bigint, count: number, root: number): Promise<void>;
  abort(reason: string): void;
  close(): void;
  /** True when this backend's own errors already name the rank at fault. */
  readonly namesFaultyRank: boolean;
  versions(): Record<string, string>;
  device(): string;
  details(): Record<string, unknown>;
}
