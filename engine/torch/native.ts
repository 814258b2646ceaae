/**
 * Loads the libtorch engine addon (native/torch/build/Release/gradpool_torch.node,
 * built by `node native/torch/build.mjs`) and types its surface. A missing build
 * is reported when the torch engine is requested, never at import time.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export interface NativeTorchEngine {
  forwardBackward(
    ids: Int32Array, tokenTypeIds: Int32Array, attentionMask: Int32Array, batchSize: number, seqLen: number,
    positions: Int32Array, labels: Int32Array, train: boolean, seedHi: number, seedLo: number,
  ): number;
  /** Zero-copy on CPU: the same Float32Array (over the engine's flat gradient storage) every call. */
  gradients(): Float32Array;
  zeroGrad(): void;
  optimizerStep(lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, maxGradNorm: number, gradScale: number): number;
  evaluate(
    ids: Int32Array, tokenTypeIds: Int32Array, attentionMask: Int32Array, batchSize: number, seqLen: number,
    positions: Int32Array, labels: Int32Array, k: number,
  ): { lossSum: number; top: Int32Array; pred: Int32Array };
  topK(
    ids: Int32Array, tokenTypeIds: Int32Array, attentionMask: Int32Array, batchSize: number, seqLen: number,
    positions: Int32Array, k: number,
  ): { ids: Int32Array; probs: Float32Array };
  logits(ids: Int32Array, tokenTypeIds: Int32Array, attentionMask: Int32Array, batchSize: number, seqLen: number): Float32Array;
  /** Sequence classifier: labels one per row; classWeights empty = none. Returns the summed loss. */
  classifyForwardBackward(
    ids: Int32Array, tokenTypeIds: Int32Array, attentionMask: Int32Array, batchSize: number, seqLen: number,
    labels: Int32Array, classWeights: Float32Array, labelSmoothing: number, train: boolean, seedHi: number, seedLo: number,
  ): number;
  /** Dropout off; labels empty = no loss. */
  classify(
    ids: Int32Array, tokenTypeIds: Int32Array, attentionMask: Int32Array, batchSize: number, seqLen: number,
    labels: Int32Array, classWeights: Float32Array, labelSmoothing: number,
  ): { logits: Float32Array; lossSum: number };
  getParameters(): Float32Array;
  setParameters(flat: Float32Array): void;
  getOptimizerState(): { step: number; expAvg: Float32Array; expAvgSq: Float32Array };
  setOptimizerState(step: number, expAvg: Float32Array, expAvgSq: Float32Array): void;
  /** gradRebinds: backward passes after which a .grad had left the flat buffer (expected 0). */
  stats(): { gradRebinds: number; step: number };
  /** A communicator's C ABI External (Communicator.collectiveAbi()); see grad_buckets.h. */
  attachCollectives(abi: object, bucketBytes: number): { attached: boolean; why?: string; buckets?: Array<[number, number]> };
  detachCollectives(): void;
  armGradientSync(): void;
  gradientSync(): Promise<{ buckets: number; launchedDuringBackward: number; commMs: number; hiddenMs: number }>;
  dispose(): void;
}

export interface NativeTorchVersions {
  libtorch: string;
  sdpa: boolean;
  cuda: boolean;
  cudaDevices: number;
  threads: number;
  parallel: string;
}

export interface NativeTorchAddon {
  TorchEngine: new (o: {
    config: Record<string, unknown>;
    /** The encoder's family (native/torch/src/model/); default "bert". */
    family?: string;
    /** "mlm" (default) or "classification". */
    head?: string;
    numLabels?: number;
    classifierDropout?: number;
    specs: Array<{ offset: number; size: number; shape: number[]; decay: boolean }>;
    params: Float32Array;
    device: string;
    threads: number;
    amp: boolean;
  }) => NativeTorchEngine;
  versions(): NativeTorchVersions;
}

export const TORCH_ADDON_PATH =
  process.env.GRADPOOL_TORCH_ADDON ??
  fileURLToPath(new URL('../../native/torch/build/Release/gradpool_torch.node', import.meta.url));

let cached: { addon?: NativeTorchAddon; error?: string } | undefined;

/** The addon, or why it cannot be loaded (missing build, missing libtorch at run time). */
export function tryLoadTorchAddon(): { addon?: NativeTorchAddon; error?: string } {
  if (cached) return cached;
  if (!existsSync(TORCH_ADDON_PATH)) {
    cached = {
      error: `the torch engine addon is not built (${TORCH_ADDON_PATH} is missing): install libtorch ` +
        '(Debian: apt-get install libtorch-dev; or pip install torch; or set GRADPOOL_LIBTORCH=/path/to/libtorch) ' +
        'and run `node native/torch/build.mjs`',
    };
    return cached;
  }
  try {
    cached = { addon: createRequire(import.meta.url)(TORCH_ADDON_PATH) as NativeTorchAddon };
  } catch (e) {
    cached = { error: `the torch engine addon ${TORCH_ADDON_PATH} failed to load: ${(e as Error).message}` };
  }
  return cached;
}

export function loadTorchAddon(): NativeTorchAddon {
  const r = tryLoadTorchAddon();
  if (!r.addon) throw new Error(`engine torch: ${r.error}`);
  return r.addon;
}
