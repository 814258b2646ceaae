/**
 * What the training loop needs from the collectives: in-place sums across
 * ranks and a broadcast from rank 0. The service hands in a communicator
 * from native/; one process trains with `SingleProcessSync`.
 */
export interface GradientSync {
  readonly rank: number;
  readonly worldSize: number;
  /** Element-wise sum over ranks, in place. */
  allReduceSum(buf: Float32Array): Promise<void>;
  /** Rank `root`'s buffer copied into every rank's, in place. */
  broadcast(buf: Float32Array, root: number): Promise<void>;
  /**
   * Optional: the communicator's C ABI (Communicator.collectiveAbi()), through which an
   * engine that can (torch) all-reduces its own gradient during backward (engine-sync.ts).
   */
  collectiveAbi?(): object;
}

export class SingleProcessSync implements GradientSync {
  readonly rank = 0;
  readonly worldSize = 1;
  async allReduceSum(): Promise<void> {}
  async broadcast(): Promise<void> {}
}
