import type { Communicator } from '../native/index.ts';
import type { GradientSync } from '../train/gradient-sync.ts';

/** The training loop's view of a native communicator (shm, gloo or nccl). */
export class CommunicatorSync implements GradientSync {
  constructor(private readonly comm: Communicator) {}

  get rank(): number {
    return this.comm.rank;
  }
  get worldSize(): number {
    return this.comm.worldSize;
  }
  allReduceSum(buf: Float32Array): Promise<void> {
    return this.comm.allReduce(buf, 'sum');
  }
  broadcast(buf: Float32Array, root: number): Promise<void> {
    return this.comm.broadcast(buf, root);
  }
  collectiveAbi(): object {
    return this.comm.collectiveAbi();
  }
}
