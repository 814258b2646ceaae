/** Public option and result types of the collectives layer. */

export type BackendName = 'nccl' | 'shm' | 'gloo';
export type BackendChoice = BackendName | 'auto';
export type ReduceOp = 'sum' | 'avg';

export interface CommunicatorOptions {
  /** 'auto': nccl if every rank has a GPU and NCCL, else shm if all ranks share a host, else gloo. */
  backend?: BackendChoice;
  rank: number;
  worldSize: number;
  /** Identifies the training run; [A-Za-z0-9._-], at most 128 characters. */
  runId: string;
  /** Distinguishes several communicators of one run (default 'default'). */
  tag?: string;
  rendezvous: { redisUrl: string };
  /** Longest wait at any synchronisation point, and for the rendezvous (default 60 000). */
  timeoutMs?: number;
  /**
   * Longest wait for all ranks to arrive (default: timeoutMs). A trainer sets
   * it short (the gang-start deadline) and timeoutMs long (a rank may wait on
   * rank 0's evaluation); dead peers are detected by liveness, not by timeout.
   */
  rendezvousTimeoutMs?: number;
  shm?: {
    /** Staging bytes per rank and chunk (default 16 MiB, shrunk to fit /dev/shm). */
    chunkBytes?: number;
  };
  gloo?: {
    /** Address to listen on; default 127.0.0.1 when all ranks share a host, else os.hostname(). */
    hostname?: string;
    /** Network interface to listen on instead (e.g. 'eth0'); env GRADPOOL_GLOO_IFACE. */
    iface?: string;
  };
  nccl?: {
    /**
     * CUDA device ordinal (in this process's view). Default: a GPU no other
     * rank on this host uses, starting from this rank's index among them.
     */
    device?: number;
    /** Longest wait for NCCL's communicator to come up (default: rendezvousTimeoutMs, else timeoutMs). */
    initTimeoutMs?: number;
    /** Longest wait at destroy() for every rank to finish (default 10 000); then the communicator is aborted. */
    finalizeTimeoutMs?: number;
  };
  /** Aborts a pending init (e.g. on SIGTERM); the promise rejects with ABORTED. */
  signal?: AbortSignal;
  /** Where notes about the backend choice go (default: console.log with a "[gradpool] collectives:" prefix). */
  log?: (line: string) => void;
}

/** The device a rank computes on, decided in the rendezvous (ranks never share a GPU under NCCL). */
export type Placement =
  | { type: 'cuda'; /** CUDA ordinal in this process (CUDA_DEVICE_ORDER=PCI_BUS_ID) */ index: number; busId: string }
  | { type: 'cpu' };

export interface CommunicatorDescription {
  backend: BackendName;
  rank: number;
  worldSize: number;
  runId: string;
  tag: string;
  /** Rendezvous generation: fresh for every init, part of every key and segment name. */
  generation: string;
  hosts: string[];
  /** Library versions in use, e.g. { node: '20.20.2', nccl: '2.21.5', cudart: '12040' }. */
  versions: Record<string, string>;
  /** 'cpu', or the CUDA device and PCI bus id. */
  device: string;
  /** This rank's compute device; with nccl, the communicator's device. */
  placement: Placement;
  details: Record<string, unknown>;
}
