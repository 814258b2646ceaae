import type { StateDict } from '../model/state-dict.ts';
import type { BertConfig } from '../model/bert-config.ts';
import type { ModelHead } from '../model/model-head.ts';

/**
 * The one narrow surface between training code and tensors. The trainer,
 * worker and coordinator see only this; tfjs tensors (or libtorch ones)
 * never leave an engine. Buffers are laid out in `bertParamSpecs(config, head)` order.
 */

/** `batchSize` sequences of `seqLen` tokens, row-major. */
export interface SequenceBatch {
  batchSize: number;
  seqLen: number;
  inputIds: Int32Array;
  /** 0 for every token when absent. */
  tokenTypeIds?: Int32Array;
  /** 1 for real tokens, 0 for padding. */
  attentionMask: Int32Array;
}

/** A masked-LM micro-batch. */
export interface MlmBatch extends SequenceBatch {
  /** The original token at masked positions, -100 elsewhere. */
  labels: Int32Array;
}

/** A sequence-classification micro-batch: one label id per sequence. */
export interface ClassificationBatch extends SequenceBatch {
  labels: Int32Array;
}

/** The classifier's loss: torch's cross_entropy(weight, label_smoothing, reduction="sum"). */
export interface ClassificationLoss {
  /** One weight per label id; null = all 1. */
  classWeights: Float32Array | null;
  labelSmoothing: number;
}

export interface ClassificationResult {
  /** Sum over the sequences of the (weighted, smoothed) cross-entropy. */
  lossSum: number;
  /** Sum of the class weights of the batch's labels (its size, unweighted): a mean's denominator, as torch's reduction="mean". */
  weightSum: number;
}

export interface ClassifyResult extends ClassificationResult {
  /** [batchSize × numLabels], row-major. */
  logits: Float32Array;
}

export interface EngineInfo {
  /** "tfjs" or "torch". */
  engine: string;
  /** tfjs backend ("wasm", "cpu", "tensorflow") or torch device ("cpu", "cuda:0"). */
  backend: string;
  device: string;
  dtype: string;
  threads: number;
  versions: Record<string, string>;
}

export interface ForwardBackwardResult {
  /** Sum of the cross-entropy over this micro-batch's masked tokens. */
  lossSum: number;
  maskedTokens: number;
}

/** Hyper-parameters of one AdamW step (torch.optim.AdamW semantics). */
export interface OptimizerStep {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Clip the global gradient norm to this; 0 = no clipping. */
  maxGradNorm: number;
  /**
   * Multiplies the accumulated gradient before clipping, e.g. 1 / (masked
   * tokens in the global batch) to turn summed losses into the mean.
   */
  gradScale: number;
}

export interface EvalResult {
  lossSum: number;
  maskedTokens: number;
  /** Per masked position, in row-major order of the batch. */
  labels: Int32Array;
  top1: Int32Array;
  top10Hit: Uint8Array;
  /** Argmax over every non-pad position against the uncorrupted input. */
  allTokensCorrect: number;
  allTokensCount: number;
}

export interface TopKResult {
  /** Flat positions (row * seqLen + col) that were asked for. */
  positions: number[];
  /** [positions.length * k] token ids, best first. */
  ids: Int32Array;
  probs: Float32Array;
}

export interface OptimizerState {
  step: number;
  /** First and second moments, flat in parameter order. */
  expAvg: Float32Array;
  expAvgSq: Float32Array;
}

/** How one synchronised backward went (host clock; on CUDA the completion times are the progress thread's). */
export interface GradientSyncReport {
  buckets: number;
  /** Buckets whose all-reduce started while backward was still running. */
  launchedDuringBackward: number;
  /** Time the communicator spent on this backward's buckets, and how much of it lay before backward returned. */
  commMs: number;
  hiddenMs: number;
}

/**
 * An engine that all-reduces its own gradient, as DDP does: through a
 * communicator's C ABI (`Communicator.collectiveAbi()`), in buckets started
 * from autograd hooks while backward runs, in place where the gradient lives
 * (the GPU under nccl: no host copy).
 */
export interface EngineCollectives {
  /** False, with the reason, where the communicator's memory is not the engine's (e.g. shm with a CUDA engine). */
  attachCollectives(abi: object, o?: { bucketBytes?: number }): { attached: boolean; why?: string; buckets: number };
  detachCollectives(): void;
  /** The next backward sums the gradient over the ranks (call before the last micro-batch of a step). */
  armGradientSync(): void;
  /** Starts what the armed backward did not (before any other collective), then waits for the sum. */
  gradientSync(): Promise<GradientSyncReport>;
}

export interface Engine {
  readonly info: EngineInfo;
  /** Present when the engine can all-reduce its own gradient (torch). */
  readonly collectives?: EngineCollectives;
  readonly config: BertConfig;
  /** The head on the encoder: MLM, or a sequence classifier (setModel changes it). */
  readonly head: ModelHead;
  /** Number of parameters = length of the gradient buffer. */
  readonly numParams: number;

  /**
   * Replaces the model by `head` with these weights (strictly matched); the
   * device, threads and dropout stream stay, the gradient buffer (a new one:
   * call gradients() again) and the optimizer state start at zero.
   */
  setModel(head: ModelHead, weights: StateDict, source: string): void;

  /** Adds d(sum of masked-token CE)/dθ to the gradient buffer. Dropout on when `train`. */
  forwardBackward(batch: MlmBatch, train: boolean): Promise<ForwardBackwardResult>;
  /** The flat gradient buffer (host memory) the all-reduce works on in place. */
  gradients(): Float32Array;
  zeroGrad(): void;
  /** Scales, clips and applies one AdamW step; returns the pre-clip gradient norm (after scaling). */
  optimizerStep(h: OptimizerStep): Promise<{ gradNorm: number }>;

  /** Dropout off. Metrics are computed from these outputs by the caller. */
  evaluate(batch: MlmBatch): Promise<EvalResult>;
  /** Top-k vocabulary predictions (softmax probabilities) at the given positions. */
  topK(batch: MlmBatch, positions: number[], k: number): Promise<TopKResult>;
  /** Logits [batch*seq, vocab] for every position: for parity tests and small batches. */
  logits(batch: MlmBatch): Promise<Float32Array>;

  /** Classifier: adds d(sum of the batch's loss)/dθ to the gradient buffer. Dropout on when `train`. */
  forwardBackwardClassify(batch: ClassificationBatch, loss: ClassificationLoss, train: boolean): Promise<ClassificationResult>;
  /** Classifier, dropout off: logits, and the loss when the batch has labels (else 0). */
  classify(batch: SequenceBatch & { labels?: Int32Array }, loss?: ClassificationLoss): Promise<ClassifyResult>;

  /** Canonical-order state dict with Hugging Face names (copies). */
  stateDict(): StateDict;
  /** Strict: missing, unexpected or mis-shaped tensors throw, naming them. */
  loadStateDict(sd: StateDict, source: string): void;
  /** The flat parameters in canonical order (a copy), e.g. for a broadcast from rank 0. */
  parameters(): Float32Array;
  setParameters(flat: Float32Array): void;
  optimizerState(): OptimizerState;
  loadOptimizerState(s: OptimizerState): void;
  /** Dropout randomness, for exact resume. */
  rngState(): number[];
  setRngState(s: number[]): void;

  dispose(): void;
}
