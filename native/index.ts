/**
 * gradpool native collectives: all-reduce of gradients across the workers of
 * a training run over NCCL (GPU), shared memory (one host) or gloo/TCP.
 * See native/README.md.
 */
export { Communicator } from './collectives/communicator.ts';
export { CollectiveError, type CollectiveErrorCode } from './collectives/errors.ts';
export { keyPrefix } from './collectives/rendezvous.ts';
export { shmBaseName } from './collectives/backends/shm.ts';
export { loadNative } from './collectives/native.ts';
export type {
  BackendChoice,
  BackendName,
  CommunicatorDescription,
  CommunicatorOptions,
  Placement,
  ReduceOp,
} from './collectives/types.ts';
