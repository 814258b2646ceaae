import { Rng } from '../../common/rng.ts';
import type { StateDict } from '../../model/state-dict.ts';
import type { BertConfig } from '../../model/bert-config.ts';
import { MLM_HEAD, type ModelHead } from '../../model/model-head.ts';
import { familyOfConfig } from '../../model/families/registry.ts';
import { bertParamSpecs, initBertWeights, matchStateDict, placeholderWeights, totalSize, type ParamSpec } from '../../model/parameters.ts';
import type {
  ClassificationBatch,
  ClassificationLoss,
  ClassificationResult,
  ClassifyResult,
  Engine,
  EngineCollectives,
  EngineInfo,
  EvalResult,
  GradientSyncReport,
  ForwardBackwardResult,
  MlmBatch,
  OptimizerState,
  OptimizerStep,
  SequenceBatch,
  TopKResult,
} from '../engine.ts';
import { checkBatch, checkClassificationBatch, classWeightSum, evalResultFrom, maskedPositions } from '../batch-checks.ts';
import { rethrowOutOfMemory } from '../out-of-memory.ts';
import { loadTorchAddon, type NativeTorchAddon, type NativeTorchEngine } from './native.ts';

/** DDP's default bucket size (bucket_cap_mb = 25). */
export const DEFAULT_BUCKET_BYTES = 25 * 1024 * 1024;

/** How libtorch words running out of memory (CPU allocator, CUDA caching allocator). */
const OUT_OF_MEMORY = /can't allocate memory|out of memory|CUBLAS_STATUS_ALLOC_FAILED/i;

export interface TorchEngineOptions {
  config: BertConfig;
  /** Default MLM. */
  head?: ModelHead;
  /** Start from these weights (strictly matched); else BERT's random init from `seed`. */
  weights?: StateDict;
  weightsSource?: string;
  /** No weights and no random init: zeros, for weights replaced before use (setParameters, a checkpoint). Default false. */
  placeholder?: boolean;
  /** Seeds the init and the dropout stream. */
  seed: number;
  /** "cpu", "cuda", "cuda:N"; default GRADPOOL_TORCH_DEVICE, else cuda:0 when libtorch sees a GPU, else cpu. */
  device?: string;
  /** Intra-op threads (torch.set_num_threads, process-wide); default GRADPOOL_TORCH_THREADS, else 1. */
  threads?: number;
  /** bf16 autocast on CUDA (fp32 master weights and gradients); default true. Ignored on CPU. */
  amp?: boolean;
  /**
   * ModernBERT: pack the real tokens of right-padded batches (Linear layers on T
   * tokens, attention per sequence) as Hugging Face's flash-attention path; false
   * keeps [B, S] with a padding mask (its SDPA path). Default true.
   */
  unpadded?: boolean;
}

/**
 * The libtorch engine (native/torch/src/torch_engine.cc): the model runs as ATen
 * ops over one flat fp32 parameter tensor; every parameter's .grad is a view into
 * one flat gradient tensor, which on CPU is handed to JavaScript without a copy
 * (the all-reduce works on it in place). The AdamW update is fused over the flat
 * buffers. Names, strict loading and the dropout seed stream stay on this side,
 * so checkpoints and RNG states move between this engine and the tfjs one.
 */
export class TorchEngine implements Engine {
  private specs: ParamSpec[];
  private rng: Rng;
  private native: NativeTorchEngine | undefined;
  private gradView: Float32Array | undefined;
  /** The attached communicator's C ABI, kept so a new model (setModel) is attached too. */
  private attached: { abi: object; bucketBytes: number; buckets: Array<[number, number]> } | undefined;
  private syncPending = false;

  private constructor(
    readonly config: BertConfig,
    readonly info: EngineInfo,
    private readonly make: (head: ModelHead, flat: Float32Array) => NativeTorchEngine,
    private modelHead: ModelHead,
    flat: Float32Array,
    seed: number,
  ) {
    this.specs = bertParamSpecs(config, modelHead);
    this.native = make(modelHead, flat);
    this.rng = new Rng(seed).fork(0x0d0);
  }

  static async create(o: TorchEngineOptions): Promise<TorchEngine> {
    const addon = loadTorchAddon();
    const v = addon.versions();
    const head = o.head ?? MLM_HEAD;
    const init = o.weights
      ? matchStateDict(o.config, o.weights, o.weightsSource ?? 'weights', head).tensors
      : o.placeholder
        ? placeholderWeights(o.config, head)
        : initBertWeights(o.config, o.seed, head);
    const device = o.device ?? process.env.GRADPOOL_TORCH_DEVICE ?? (v.cuda && v.cudaDevices > 0 ? 'cuda:0' : 'cpu');
    const threads = o.threads ?? (Number(process.env.GRADPOOL_TORCH_THREADS) || 1);
    const amp = device.startsWith('cuda') && (o.amp ?? true);
    const info: EngineInfo = {
      engine: 'torch',
      backend: device,
      device,
      dtype: amp ? 'bfloat16 autocast (fp32 master)' : 'float32',
      threads,
      versions: {
        libtorch: v.libtorch,
        sdpa: String(v.sdpa && device.startsWith('cuda')),
        parallel: /ATen parallel backend: (.*)/.exec(v.parallel)?.[1] ?? 'unknown',
      },
    };
    const nativeConfig = { ...o.config, _unpadded: o.unpadded === false ? 0 : 1 } as BertConfig;
    const make = (h: ModelHead, flat: Float32Array) => nativeEngine(addon, nativeConfig, h, flat, { device, threads, amp });
    return new TorchEngine(o.config, info, make, head, flatten(bertParamSpecs(o.config, head), init), o.seed);
  }

  get head(): ModelHead {
    return this.modelHead;
  }

  get numParams(): number {
    return totalSize(this.specs);
  }

  setModel(head: ModelHead, weights: StateDict, source: string): void {
    const specs = bertParamSpecs(this.config, head);
    const native = this.make(head, flatten(specs, matchStateDict(this.config, weights, source, head).tensors));
    this.native?.dispose();
    this.native = native;
    this.specs = specs;
    this.modelHead = head;
    this.gradView = undefined;
    if (this.attached) {
      const r = native.attachCollectives(this.attached.abi, this.attached.bucketBytes);
      this.attached.buckets = r.buckets ?? [];
    }
  }

  readonly collectives: EngineCollectives = {
    attachCollectives: (abi, o) => {
      const bucketBytes = o?.bucketBytes ?? DEFAULT_BUCKET_BYTES;
      if (!Number.isInteger(bucketBytes) || bucketBytes <= 0) throw new Error(`bucketBytes: ${bucketBytes} is not a positive integer`);
      const r = this.n.attachCollectives(abi, bucketBytes);
      if (r.attached) this.attached = { abi, bucketBytes, buckets: r.buckets ?? [] };
      return { attached: r.attached, ...(r.why ? { why: r.why } : {}), buckets: r.buckets?.length ?? 0 };
    },
    detachCollectives: () => {
      this.attached = undefined;
      this.native?.detachCollectives();
    },
    armGradientSync: () => this.n.armGradientSync(),
    gradientSync: async (): Promise<GradientSyncReport> => {
      if (this.syncPending) throw new Error('engine torch: gradientSync() called again before the previous one settled');
      this.syncPending = true;
      try {
        return await this.n.gradientSync();
      } finally {
        this.syncPending = false;
      }
    },
  };

  /** The gradient buckets' [offset, count] ranges in the flat buffer (attached engines; for tests). */
  gradientBuckets(): Array<[number, number]> {
    return this.attached?.buckets ?? [];
  }

  private get n(): NativeTorchEngine {
    if (!this.native) throw new Error('engine torch: used after dispose()');
    return this.native;
  }

  async forwardBackward(batch: MlmBatch, train: boolean): Promise<ForwardBackwardResult> {
    const { positions, labels } = maskedPositions(batch);
    if (positions.length === 0) return { lossSum: 0, maskedTokens: 0 };
    // One seed per micro-batch from the engine's Rng (same stream shape as the tfjs engine):
    // rngState() is that Rng's state, so a resume replays the same dropout masks.
    const hi = train ? this.rng.nextUint32() : 0;
    const lo = train ? this.rng.nextUint32() : 0;
    const b = mlmInputs(batch, this.config, this.modelHead);
    let lossSum = 0;
    try {
      lossSum = this.n.forwardBackward(b.ids, b.tt, b.am, batch.batchSize, batch.seqLen, positions, labels, train, hi, lo);
    } catch (e) {
      rethrowOutOfMemory(e, OUT_OF_MEMORY);
    }
    return { lossSum, maskedTokens: positions.length };
  }

  gradients(): Float32Array {
    // The native side returns the same array every time. On CUDA it is a pinned host mirror,
    // allocated by the first call and refreshed after every backward from then on.
    this.gradView = this.n.gradients();
    return this.gradView;
  }

  zeroGrad(): void {
    this.n.zeroGrad();
  }

  async optimizerStep(h: OptimizerStep): Promise<{ gradNorm: number }> {
    const gradNorm = this.n.optimizerStep(h.lr, h.beta1, h.beta2, h.eps, h.weightDecay, h.maxGradNorm, h.gradScale);
    return { gradNorm };
  }

  async evaluate(batch: MlmBatch): Promise<EvalResult> {
    const masked = maskedPositions(batch);
    const k = Math.min(10, this.config.vocab_size);
    const b = mlmInputs(batch, this.config, this.modelHead);
    let r: { lossSum: number; top: Int32Array; pred: Int32Array };
    try {
      r = this.n.evaluate(b.ids, b.tt, b.am, batch.batchSize, batch.seqLen, masked.positions, masked.labels, k);
    } catch (e) {
      rethrowOutOfMemory(e, OUT_OF_MEMORY);
    }
    return evalResultFrom(batch, masked, r.lossSum, r.top, k, r.pred);
  }

  async topK(batch: MlmBatch, positions: number[], k: number): Promise<TopKResult> {
    const b = mlmInputs(batch, this.config, this.modelHead);
    const r = this.n.topK(b.ids, b.tt, b.am, batch.batchSize, batch.seqLen, Int32Array.from(positions), k);
    return { positions, ids: r.ids, probs: r.probs };
  }

  async logits(batch: MlmBatch): Promise<Float32Array> {
    const b = mlmInputs(batch, this.config, this.modelHead);
    return this.n.logits(b.ids, b.tt, b.am, batch.batchSize, batch.seqLen);
  }

  async forwardBackwardClassify(batch: ClassificationBatch, loss: ClassificationLoss, train: boolean): Promise<ClassificationResult> {
    checkClassificationBatch(batch, this.config, this.modelHead, loss);
    const hi = train ? this.rng.nextUint32() : 0;
    const lo = train ? this.rng.nextUint32() : 0;
    const b = inputs(batch);
    const w = loss.classWeights ?? new Float32Array(0);
    let lossSum = 0;
    try {
      lossSum = this.n.classifyForwardBackward(b.ids, b.tt, b.am, batch.batchSize, batch.seqLen, batch.labels, w, loss.labelSmoothing, train, hi, lo);
    } catch (e) {
      rethrowOutOfMemory(e, OUT_OF_MEMORY);
    }
    return { lossSum, weightSum: classWeightSum(batch.labels, loss.classWeights) };
  }

  async classify(batch: SequenceBatch & { labels?: Int32Array }, loss?: ClassificationLoss): Promise<ClassifyResult> {
    checkClassificationBatch(batch, this.config, this.modelHead, loss);
    const b = inputs(batch);
    const labelled = batch.labels && loss ? batch.labels : new Int32Array(0);
    let r: { logits: Float32Array; lossSum: number };
    try {
      r = this.n.classify(b.ids, b.tt, b.am, batch.batchSize, batch.seqLen, labelled, loss?.classWeights ?? new Float32Array(0), loss?.labelSmoothing ?? 0);
    } catch (e) {
      rethrowOutOfMemory(e, OUT_OF_MEMORY);
    }
    return { ...r, weightSum: labelled.length ? classWeightSum(labelled, loss!.classWeights) : 0 };
  }

  stateDict(): StateDict {
    const flat = this.n.getParameters();
    const sd: StateDict = new Map();
    for (const s of this.specs) sd.set(s.name, { shape: [...s.shape], data: flat.slice(s.offset, s.offset + s.size) });
    return sd;
  }

  loadStateDict(sd: StateDict, source: string): void {
    this.n.setParameters(flatten(this.specs, matchStateDict(this.config, sd, source, this.modelHead).tensors));
  }

  parameters(): Float32Array {
    return this.n.getParameters();
  }

  setParameters(flat: Float32Array): void {
    if (flat.length !== this.numParams) {
      throw new Error(`setParameters: ${flat.length} values for a model of ${this.numParams} parameters`);
    }
    this.n.setParameters(flat);
  }

  optimizerState(): OptimizerState {
    return this.n.getOptimizerState();
  }

  loadOptimizerState(s: OptimizerState): void {
    if (s.expAvg.length !== this.numParams || s.expAvgSq.length !== this.numParams) {
      throw new Error(`optimizer state has ${s.expAvg.length} moments for a model of ${this.numParams} parameters`);
    }
    this.n.setOptimizerState(s.step, s.expAvg, s.expAvgSq);
  }

  rngState(): number[] {
    return this.rng.state();
  }

  setRngState(s: number[]): void {
    this.rng = new Rng(s);
  }

  /** Diagnostics: `gradRebinds` counts backward passes whose gradients did not land in place. */
  stats(): { gradRebinds: number; step: number } {
    return this.n.stats();
  }

  dispose(): void {
    this.native?.dispose();
    this.native = undefined;
  }
}

/** The MLM head's checks, then the arrays the addon takes. */
function mlmInputs(b: MlmBatch, c: BertConfig, head: ModelHead) {
  if (head.kind !== 'mlm') throw new Error('this engine holds a sequence classifier, not a masked-LM model');
  checkBatch(b, c);
  return inputs(b);
}

function inputs(b: SequenceBatch): { ids: Int32Array; tt: Int32Array; am: Int32Array } {
  return { ids: b.inputIds, tt: b.tokenTypeIds ?? new Int32Array(b.batchSize * b.seqLen), am: b.attentionMask };
}

function flatten(specs: ParamSpec[], tensors: StateDict): Float32Array {
  const flat = new Float32Array(totalSize(specs));
  for (const s of specs) flat.set(tensors.get(s.name)!.data, s.offset);
  return flat;
}

function nativeEngine(
  addon: NativeTorchAddon,
  config: BertConfig,
  head: ModelHead,
  flat: Float32Array,
  o: { device: string; threads: number; amp: boolean },
): NativeTorchEngine {
  const specs = bertParamSpecs(config, head);
  const family = familyOfConfig(config);
  return new addon.TorchEngine({
    config: family.nativeConfig(config as BertConfig & Record<string, unknown>),
    family: family.native.encoder,
    head: head.kind === 'mlm' ? family.native.mlmHead : head.kind,
    ...(head.kind === 'classification'
      ? { numLabels: head.numLabels, classifierDropout: head.classifierDropout ?? config.hidden_dropout_prob }
      : {}),
    specs: specs.map((s) => ({ offset: s.offset, size: s.size, shape: s.shape, decay: s.decay })),
    params: flat,
    ...o,
  });
}
