import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../common/rng.ts';
import type { StateDict } from '../../model/state-dict.ts';
import type { BertConfig } from '../../model/bert-config.ts';
import { bertParamSpecs, initBertWeights, matchStateDict, totalSize, type ParamSpec } from '../../model/parameters.ts';
import type {
  Engine,
  EngineInfo,
  EvalResult,
  ForwardBackwardResult,
  MlmBatch,
  OptimizerState,
  OptimizerStep,
  TopKResult,
} from '../engine.ts';
import { checkBatch, evalResultFrom, maskedPositions } from '../batch-checks.ts';
import { rethrowOutOfMemory } from '../out-of-memory.ts';
import { HostAdamW } from '../host-adamw.ts';
import { additiveMask, bertEncoder, mlmHead, type BertInputs, type BertWeights } from './bert.ts';
import { initTfjsBackend, type TfjsBackendName } from './backend.ts';
import { crossEntropySum, gatherRows } from './ops.ts';

export interface TfjsEngineOptions {
  config: BertConfig;
  /** Start from these weights (strictly matched); else BERT's random init from `seed`. */
  weights?: StateDict;
  weightsSource?: string;
  /** Seeds the init and the dropout stream. */
  seed: number;
  /** Default "auto": tensorflow, else wasm, else cpu. */
  backend?: TfjsBackendName;
}

/** Rows of the full-vocabulary logits computed at once in evaluation (bounds memory). */
const EVAL_ROWS = 256;
/** How wasm (a trap or abort), the cpu backend and tfjs-node word running out of memory. */
const OUT_OF_MEMORY = /memory access out of bounds|Aborted\(|out of memory|Array buffer allocation failed|Cannot allocate/i;

let engineCount = 0;

/**
 * The TensorFlow.js engine. Parameters live twice: an fp32 host master copy
 * (what AdamW updates and checkpoints read) and tf.Variables mirroring it for
 * the forward/backward. Gradients are accumulated on the host in one flat
 * buffer, which is what the collectives all-reduce.
 */
export class TfjsEngine implements Engine {
  readonly numParams: number;
  private readonly specs: ParamSpec[];
  private readonly vars: tf.Variable[];
  private readonly byName = new Map<string, tf.Variable>();
  private readonly master: Float32Array;
  private readonly grads: Float32Array;
  private readonly adam: HostAdamW;
  private transposes = new Map<string, tf.Tensor2D>();
  private rng: Rng;
  private readonly weights: BertWeights;

  private constructor(
    readonly config: BertConfig,
    readonly info: EngineInfo,
    init: StateDict,
    seed: number,
  ) {
    this.specs = bertParamSpecs(config);
    this.numParams = totalSize(this.specs);
    this.master = new Float32Array(this.numParams);
    this.grads = new Float32Array(this.numParams);
    this.adam = new HostAdamW(this.specs, this.numParams);
    this.rng = new Rng(seed).fork(0x0d0);
    const id = ++engineCount;
    this.vars = this.specs.map((s) => {
      const t = init.get(s.name)!;
      this.master.set(t.data, s.offset);
      const v = tf.variable(tf.tensor(t.data, s.shape), true, `e${id}/${s.name}`);
      this.byName.set(s.name, v);
      return v;
    });
    this.weights = {
      get: (name) => {
        const v = this.byName.get(name);
        if (!v) throw new Error(`no parameter ${name}`);
        return v;
      },
      transposed: (name) => this.transposes.get(name),
    };
  }

  static async create(o: TfjsEngineOptions): Promise<TfjsEngine> {
    const be = await initTfjsBackend(o.backend ?? 'auto');
    const init = o.weights
      ? matchStateDict(o.config, o.weights, o.weightsSource ?? 'weights').tensors
      : initBertWeights(o.config, o.seed);
    const info: EngineInfo = {
      engine: 'tfjs',
      backend: be.backend,
      device: be.backend === 'tensorflow' ? 'tensorflow' : 'cpu',
      dtype: 'float32',
      threads: be.threads,
      versions: { ...be.versions, simd: String(be.simd) },
    };
    return new TfjsEngine(o.config, info, init, o.seed);
  }

  /**
   * The [in, out] copies of every weight used as a Linear, made once per
   * optimizer step rather than once per micro-batch (wasm transposes are slow).
   */
  private refreshTransposes(): void {
    if (this.transposes.size > 0) return;
    for (const s of this.specs) {
      const linearWeight =
        s.shape.length === 2 &&
        !s.name.includes('position_embeddings') &&
        !s.name.includes('token_type_embeddings');
      if (linearWeight) this.transposes.set(s.name, tf.keep(tf.transpose(this.byName.get(s.name)!)) as tf.Tensor2D);
    }
  }

  private dropTransposes(): void {
    for (const t of this.transposes.values()) t.dispose();
    this.transposes.clear();
  }

  private inputs(b: MlmBatch): BertInputs {
    checkBatch(b, this.config);
    return {
      batchSize: b.batchSize,
      seqLen: b.seqLen,
      inputIds: tf.tensor1d(b.inputIds, 'int32'),
      tokenTypeIds: b.tokenTypeIds ? tf.tensor1d(b.tokenTypeIds, 'int32') : tf.zeros([b.inputIds.length], 'int32'),
      additiveMask: additiveMask(b.attentionMask, b.batchSize, b.seqLen),
    };
  }

  async forwardBackward(batch: MlmBatch, train: boolean): Promise<ForwardBackwardResult> {
    const { positions, labels } = maskedPositions(batch);
    if (positions.length === 0) return { lossSum: 0, maskedTokens: 0 };
    this.refreshTransposes();
    const seed = train ? () => this.rng.nextUint32() : null;
    let lossSum = 0;
    try {
      tf.tidy(() => {
      const inp = this.inputs(batch);
      const pos = tf.tensor1d(positions, 'int32');
      const lab = tf.tensor1d(labels, 'int32');
      const { value, grads } = tf.variableGrads(() => {
        const h = bertEncoder(this.config, this.weights, inp, seed);
        return crossEntropySum(mlmHead(this.config, this.weights, gatherRows(h, pos)), lab);
      }, this.vars);
      lossSum = value.dataSync()[0]!;
      this.specs.forEach((s, i) => {
        const g = grads[this.vars[i]!.name];
        if (!g) return;
        const data = g.dataSync() as Float32Array;
        const dst = this.grads.subarray(s.offset, s.offset + s.size);
        for (let j = 0; j < data.length; j++) dst[j] = dst[j]! + data[j]!;
      });
      });
    } catch (e) {
      rethrowOutOfMemory(e, OUT_OF_MEMORY);
    }
    return { lossSum, maskedTokens: positions.length };
  }

  gradients(): Float32Array {
    return this.grads;
  }

  zeroGrad(): void {
    this.grads.fill(0);
  }

  async optimizerStep(h: OptimizerStep): Promise<{ gradNorm: number }> {
    const r = this.adam.apply(this.master, this.grads, h);
    if (Number.isFinite(r.gradNorm)) this.uploadMaster();
    return r;
  }

  private uploadMaster(): void {
    this.dropTransposes();
    this.specs.forEach((s, i) => {
      tf.tidy(() => this.vars[i]!.assign(tf.tensor(this.master.subarray(s.offset, s.offset + s.size), s.shape)));
    });
  }

  async evaluate(batch: MlmBatch): Promise<EvalResult> {
    const masked = maskedPositions(batch);
    const { positions, labels } = masked;
    this.refreshTransposes();
    const M = batch.batchSize * batch.seqLen;
    const k = Math.min(10, this.config.vocab_size);
    let lossSum = 0;
    let top: ArrayLike<number> = [];
    const pred = new Int32Array(M);
    try {
      tf.tidy(() => {
        const h = bertEncoder(this.config, this.weights, this.inputs(batch), null);
        if (positions.length > 0) {
          const logits = mlmHead(this.config, this.weights, gatherRows(h, tf.tensor1d(positions, 'int32')));
          lossSum = crossEntropySum(logits, tf.tensor1d(labels, 'int32')).dataSync()[0]!;
          top = tf.topk(logits, k).indices.dataSync();
        }
        for (let r0 = 0; r0 < M; r0 += EVAL_ROWS) {
          const rows = Math.min(EVAL_ROWS, M - r0);
          pred.set(tf.tidy(() => tf.argMax(mlmHead(this.config, this.weights, tf.slice(h, [r0, 0], [rows, -1])), 1).dataSync()), r0);
        }
      });
    } catch (e) {
      rethrowOutOfMemory(e, OUT_OF_MEMORY);
    }
    return evalResultFrom(batch, masked, lossSum, top, k, pred);
  }

  async topK(batch: MlmBatch, positions: number[], k: number): Promise<TopKResult> {
    this.refreshTransposes();
    return tf.tidy(() => {
      const h = bertEncoder(this.config, this.weights, this.inputs(batch), null);
      const logits = mlmHead(this.config, this.weights, gatherRows(h, tf.tensor1d(positions, 'int32')));
      const top = tf.topk(tf.softmax(logits), k);
      return {
        positions,
        ids: Int32Array.from(top.indices.dataSync()),
        probs: Float32Array.from(top.values.dataSync()),
      };
    });
  }

  async logits(batch: MlmBatch): Promise<Float32Array> {
    this.refreshTransposes();
    return tf.tidy(() => {
      const h = bertEncoder(this.config, this.weights, this.inputs(batch), null);
      return Float32Array.from(mlmHead(this.config, this.weights, h).dataSync());
    });
  }

  stateDict(): StateDict {
    const sd: StateDict = new Map();
    for (const s of this.specs) sd.set(s.name, { shape: [...s.shape], data: this.master.slice(s.offset, s.offset + s.size) });
    return sd;
  }

  loadStateDict(sd: StateDict, source: string): void {
    const { tensors } = matchStateDict(this.config, sd, source);
    for (const s of this.specs) this.master.set(tensors.get(s.name)!.data, s.offset);
    this.uploadMaster();
  }

  parameters(): Float32Array {
    return this.master.slice();
  }

  setParameters(flat: Float32Array): void {
    if (flat.length !== this.numParams) {
      throw new Error(`setParameters: ${flat.length} values for a model of ${this.numParams} parameters`);
    }
    this.master.set(flat);
    this.uploadMaster();
  }

  optimizerState(): OptimizerState {
    return this.adam.state();
  }

  loadOptimizerState(s: OptimizerState): void {
    this.adam.load(s);
  }

  rngState(): number[] {
    return this.rng.state();
  }

  setRngState(s: number[]): void {
    this.rng = new Rng(s);
  }

  dispose(): void {
    this.dropTransposes();
    for (const v of this.vars) v.dispose();
  }
}
