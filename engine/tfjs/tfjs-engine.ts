import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../common/rng.ts';
import type { StateDict } from '../../model/state-dict.ts';
import type { BertConfig } from '../../model/bert-config.ts';
import { MLM_HEAD, type ModelHead } from '../../model/model-head.ts';
import { initBertWeights, matchStateDict, placeholderWeights } from '../../model/parameters.ts';
import type {
  ClassificationBatch,
  ClassificationLoss,
  ClassificationResult,
  ClassifyResult,
  Engine,
  EngineInfo,
  EvalResult,
  ForwardBackwardResult,
  MlmBatch,
  OptimizerState,
  OptimizerStep,
  SequenceBatch,
  TopKResult,
} from '../engine.ts';
import { checkBatch, checkClassificationBatch, classWeightSum, evalResultFrom, maskedPositions } from '../batch-checks.ts';
import { rethrowOutOfMemory } from '../out-of-memory.ts';
import { additiveMask, bertEncoder, mlmHead, positionIdsFromInputIds, type BertInputs, type EncoderLayout } from './bert.ts';
import { tfjsLayout } from './tfjs-layouts.ts';
import { initTfjsBackend, type TfjsBackendName } from './backend.ts';
import { classifierLogits } from './classification-head.ts';
import { classCrossEntropySum, crossEntropySum, gatherRows } from './ops.ts';
import { TfjsParams } from './tfjs-params.ts';

export interface TfjsEngineOptions {
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
  /** Default "auto": tensorflow, else wasm, else cpu. */
  backend?: TfjsBackendName;
}

/** Rows of the full-vocabulary logits computed at once in evaluation (bounds memory). */
const EVAL_ROWS = 256;
/** How wasm (a trap or abort), the cpu backend and tfjs-node word running out of memory. */
const OUT_OF_MEMORY = /memory access out of bounds|Aborted\(|out of memory|Array buffer allocation failed|Cannot allocate/i;


/**
 * The TensorFlow.js engine: the model as functions (bert.ts, classification-head.ts)
 * over TfjsParams (host master copy + variables + the flat gradient buffer),
 * AdamW on the host. The dropout stream is the engine's and survives setModel.
 */
export class TfjsEngine implements Engine {
  private p: TfjsParams;
  private rng: Rng;
  /** Where the family keeps its tensors (BERT, DistilBERT, RoBERTa). */
  private readonly layout: EncoderLayout;

  private constructor(
    readonly config: BertConfig,
    readonly info: EngineInfo,
    head: ModelHead,
    init: StateDict,
    seed: number,
  ) {
    this.layout = tfjsLayout(config);
    this.p = new TfjsParams(config, head, init);
    this.rng = new Rng(seed).fork(0x0d0);
  }

  static async create(o: TfjsEngineOptions): Promise<TfjsEngine> {
    tfjsLayout(o.config); // a family tfjs does not implement fails here, before the backend starts
    const be = await initTfjsBackend(o.backend ?? 'auto');
    const head = o.head ?? MLM_HEAD;
    const init = o.weights
      ? matchStateDict(o.config, o.weights, o.weightsSource ?? 'weights', head).tensors
      : o.placeholder
        ? placeholderWeights(o.config, head)
        : initBertWeights(o.config, o.seed, head);
    const info: EngineInfo = {
      engine: 'tfjs',
      backend: be.backend,
      device: be.backend === 'tensorflow' ? 'tensorflow' : 'cpu',
      dtype: 'float32',
      threads: be.threads,
      versions: { ...be.versions, simd: String(be.simd) },
    };
    return new TfjsEngine(o.config, info, head, init, o.seed);
  }

  get head(): ModelHead {
    return this.p.head;
  }

  get numParams(): number {
    return this.p.numParams;
  }

  setModel(head: ModelHead, weights: StateDict, source: string): void {
    const { tensors } = matchStateDict(this.config, weights, source, head);
    this.p.dispose();
    this.p = new TfjsParams(this.config, head, tensors);
  }

  private inputs(b: SequenceBatch): BertInputs {
    return {
      batchSize: b.batchSize,
      seqLen: b.seqLen,
      inputIds: tf.tensor1d(b.inputIds, 'int32'),
      tokenTypeIds: b.tokenTypeIds ? tf.tensor1d(b.tokenTypeIds, 'int32') : tf.zeros([b.inputIds.length], 'int32'),
      ...(this.layout.positionsFromIds
        ? { positionIds: tf.tensor1d(positionIdsFromInputIds(b.inputIds, b.batchSize, b.seqLen, this.config.pad_token_id), 'int32') }
        : {}),
      additiveMask: additiveMask(b.attentionMask, b.batchSize, b.seqLen),
    };
  }

  private mlmInputs(b: MlmBatch): BertInputs {
    if (this.p.head.kind !== 'mlm') throw new Error('this engine holds a sequence classifier, not a masked-LM model');
    checkBatch(b, this.config);
    return this.inputs(b);
  }

  async forwardBackward(batch: MlmBatch, train: boolean): Promise<ForwardBackwardResult> {
    const inp = () => this.mlmInputs(batch);
    const { positions, labels } = maskedPositions(batch);
    if (positions.length === 0) return { lossSum: 0, maskedTokens: 0 };
    const lossSum = this.backward(train, (seed) => {
      const h = bertEncoder(this.config, this.p.weights, inp(), seed, this.layout);
      const rows = gatherRows(h, tf.tensor1d(positions, 'int32'));
      return crossEntropySum(mlmHead(this.config, this.p.weights, rows, this.layout), tf.tensor1d(labels, 'int32'));
    });
    return { lossSum, maskedTokens: positions.length };
  }

  async forwardBackwardClassify(batch: ClassificationBatch, loss: ClassificationLoss, train: boolean): Promise<ClassificationResult> {
    checkClassificationBatch(batch, this.config, this.p.head, loss);
    const lossSum = this.backward(train, (seed) => this.classLoss(batch, loss, seed));
    return { lossSum, weightSum: classWeightSum(batch.labels, loss.classWeights) };
  }

  async classify(batch: SequenceBatch & { labels?: Int32Array }, loss?: ClassificationLoss): Promise<ClassifyResult> {
    checkClassificationBatch(batch, this.config, this.p.head, loss);
    this.p.refreshTransposes();
    let out: ClassifyResult = { logits: new Float32Array(0), lossSum: 0, weightSum: 0 };
    try {
      out = tf.tidy(() => {
        const logits = this.classLogits(batch, null);
        const labelled = batch.labels && loss;
        return {
          logits: Float32Array.from(logits.dataSync()),
          lossSum: labelled ? this.classLossOf(logits, batch.labels!, loss).dataSync()[0]! : 0,
          weightSum: labelled ? classWeightSum(batch.labels!, loss.classWeights) : 0,
        };
      });
    } catch (e) {
      rethrowOutOfMemory(e, OUT_OF_MEMORY);
    }
    return out;
  }

  private classLogits(batch: SequenceBatch, seed: (() => number) | null): tf.Tensor2D {
    const h = bertEncoder(this.config, this.p.weights, this.inputs(batch), seed, this.layout);
    const head = this.p.head as Extract<ModelHead, { kind: 'classification' }>;
    const rate = head.classifierDropout ?? this.config.hidden_dropout_prob;
    return classifierLogits(this.p.weights, h, batch.batchSize, batch.seqLen, rate, seed);
  }

  private classLoss(batch: ClassificationBatch, loss: ClassificationLoss, seed: (() => number) | null): tf.Scalar {
    return this.classLossOf(this.classLogits(batch, seed), batch.labels, loss);
  }

  private classLossOf(logits: tf.Tensor2D, labels: Int32Array, loss: ClassificationLoss): tf.Scalar {
    const w = loss.classWeights ? tf.tensor1d(loss.classWeights, 'float32') : null;
    return classCrossEntropySum(logits, tf.tensor1d(labels, 'int32'), w, loss.labelSmoothing);
  }

  /** d(loss)/dθ added to the flat gradient buffer; the loss. Dropout seeds from the engine's stream when `train`. */
  private backward(train: boolean, loss: (seed: (() => number) | null) => tf.Scalar): number {
    this.p.refreshTransposes();
    const seed = train ? () => this.rng.nextUint32() : null;
    let lossSum = 0;
    try {
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => loss(seed), this.p.variables);
        lossSum = value.dataSync()[0]!;
        this.p.accumulate(grads);
      });
    } catch (e) {
      rethrowOutOfMemory(e, OUT_OF_MEMORY);
    }
    return lossSum;
  }

  gradients(): Float32Array {
    return this.p.grads;
  }

  zeroGrad(): void {
    this.p.grads.fill(0);
  }

  async optimizerStep(h: OptimizerStep): Promise<{ gradNorm: number }> {
    const r = this.p.adam.apply(this.p.master, this.p.grads, h);
    if (Number.isFinite(r.gradNorm)) this.p.upload();
    return r;
  }

  async evaluate(batch: MlmBatch): Promise<EvalResult> {
    const masked = maskedPositions(batch);
    const { positions, labels } = masked;
    const M = batch.batchSize * batch.seqLen;
    const k = Math.min(10, this.config.vocab_size);
    let lossSum = 0;
    let top: ArrayLike<number> = [];
    const pred = new Int32Array(M);
    const w = this.p.weights;
    try {
      tf.tidy(() => {
        const inp = this.mlmInputs(batch);
        this.p.refreshTransposes();
        const h = bertEncoder(this.config, w, inp, null, this.layout);
        if (positions.length > 0) {
          const logits = mlmHead(this.config, w, gatherRows(h, tf.tensor1d(positions, 'int32')), this.layout);
          lossSum = crossEntropySum(logits, tf.tensor1d(labels, 'int32')).dataSync()[0]!;
          top = tf.topk(logits, k).indices.dataSync();
        }
        for (let r0 = 0; r0 < M; r0 += EVAL_ROWS) {
          const rows = Math.min(EVAL_ROWS, M - r0);
          pred.set(tf.tidy(() => tf.argMax(mlmHead(this.config, w, tf.slice(h, [r0, 0], [rows, -1]), this.layout), 1).dataSync()), r0);
        }
      });
    } catch (e) {
      rethrowOutOfMemory(e, OUT_OF_MEMORY);
    }
    return evalResultFrom(batch, masked, lossSum, top, k, pred);
  }

  async topK(batch: MlmBatch, positions: number[], k: number): Promise<TopKResult> {
    return tf.tidy(() => {
      const inp = this.mlmInputs(batch);
      this.p.refreshTransposes();
      const h = bertEncoder(this.config, this.p.weights, inp, null, this.layout);
      const logits = mlmHead(this.config, this.p.weights, gatherRows(h, tf.tensor1d(positions, 'int32')), this.layout);
      const top = tf.topk(tf.softmax(logits), k);
      return {
        positions,
        ids: Int32Array.from(top.indices.dataSync()),
        probs: Float32Array.from(top.values.dataSync()),
      };
    });
  }

  async logits(batch: MlmBatch): Promise<Float32Array> {
    return tf.tidy(() => {
      const inp = this.mlmInputs(batch);
      this.p.refreshTransposes();
      const h = bertEncoder(this.config, this.p.weights, inp, null, this.layout);
      return Float32Array.from(mlmHead(this.config, this.p.weights, h, this.layout).dataSync());
    });
  }

  stateDict(): StateDict {
    return this.p.stateDict();
  }

  loadStateDict(sd: StateDict, source: string): void {
    const { tensors } = matchStateDict(this.config, sd, source, this.p.head);
    for (const s of this.p.specs) this.p.master.set(tensors.get(s.name)!.data, s.offset);
    this.p.upload();
  }

  parameters(): Float32Array {
    return this.p.master.slice();
  }

  setParameters(flat: Float32Array): void {
    if (flat.length !== this.numParams) {
      throw new Error(`setParameters: ${flat.length} values for a model of ${this.numParams} parameters`);
    }
    this.p.master.set(flat);
    this.p.upload();
  }

  optimizerState(): OptimizerState {
    return this.p.adam.state();
  }

  loadOptimizerState(s: OptimizerState): void {
    this.p.adam.load(s);
  }

  rngState(): number[] {
    return this.rng.state();
  }

  setRngState(s: number[]): void {
    this.rng = new Rng(s);
  }

  dispose(): void {
    this.p.dispose();
  }
}
