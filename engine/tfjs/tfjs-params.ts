import * as tf from '@tensorflow/tfjs';
import type { BertConfig } from '../../model/bert-config.ts';
import type { ModelHead } from '../../model/model-head.ts';
import { bertParamSpecs, totalSize, type ParamSpec } from '../../model/parameters.ts';
import type { StateDict } from '../../model/state-dict.ts';
import { HostAdamW } from '../host-adamw.ts';
import type { BertWeights } from './bert.ts';

let paramsCount = 0;

/**
 * One model's parameters in the tfjs engine. They live twice: an fp32 host
 * master copy (what AdamW updates and checkpoints read) and tf.Variables
 * mirroring it for the forward/backward. Gradients are accumulated on the
 * host in one flat buffer, which is what the collectives all-reduce. A new
 * head (setModel) is a new TfjsParams.
 */
export class TfjsParams {
  readonly specs: ParamSpec[];
  readonly numParams: number;
  readonly master: Float32Array;
  readonly grads: Float32Array;
  readonly adam: HostAdamW;
  readonly weights: BertWeights;
  private readonly vars: tf.Variable[];
  private readonly byName = new Map<string, tf.Variable>();
  private readonly transposes = new Map<string, tf.Tensor2D>();

  /** `init` holds every parameter of (config, head), already matched. */
  constructor(config: BertConfig, readonly head: ModelHead, init: StateDict) {
    this.specs = bertParamSpecs(config, head);
    this.numParams = totalSize(this.specs);
    this.master = new Float32Array(this.numParams);
    this.grads = new Float32Array(this.numParams);
    this.adam = new HostAdamW(this.specs, this.numParams);
    const id = ++paramsCount;
    this.vars = this.specs.map((s) => {
      this.master.set(init.get(s.name)!.data, s.offset);
      // tidy: the initial tensor is released; the variable keeps its data.
      const v = tf.tidy(() => tf.variable(tf.tensor(init.get(s.name)!.data, s.shape), true, `p${id}/${s.name}`));
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

  get variables(): tf.Variable[] {
    return this.vars;
  }

  /**
   * The [in, out] copies of every weight used as a Linear, made once per
   * optimizer step rather than once per micro-batch (wasm transposes are slow).
   */
  refreshTransposes(): void {
    if (this.transposes.size > 0) return;
    for (const s of this.specs) {
      const linearWeight = s.shape.length === 2 && !s.name.includes('position_embeddings') && !s.name.includes('token_type_embeddings');
      if (linearWeight) this.transposes.set(s.name, tf.keep(tf.transpose(this.byName.get(s.name)!)) as tf.Tensor2D);
    }
  }

  /** The variables take the master copy's values (after an optimizer step or a load). */
  upload(): void {
    this.dropTransposes();
    this.specs.forEach((s, i) => {
      tf.tidy(() => this.vars[i]!.assign(tf.tensor(this.master.subarray(s.offset, s.offset + s.size), s.shape)));
    });
  }

  /** Adds variableGrads' gradients into the flat host buffer (inside the caller's tidy). */
  accumulate(grads: tf.NamedTensorMap): void {
    this.specs.forEach((s, i) => {
      const g = grads[this.vars[i]!.name];
      if (!g) return;
      const data = g.dataSync() as Float32Array;
      const dst = this.grads.subarray(s.offset, s.offset + s.size);
      for (let j = 0; j < data.length; j++) dst[j] = dst[j]! + data[j]!;
    });
  }

  stateDict(): StateDict {
    const sd: StateDict = new Map();
    for (const s of this.specs) sd.set(s.name, { shape: [...s.shape], data: this.master.slice(s.offset, s.offset + s.size) });
    return sd;
  }

  private dropTransposes(): void {
    for (const t of this.transposes.values()) t.dispose();
    this.transposes.clear();
  }

  dispose(): void {
    this.dropTransposes();
    for (const v of this.vars) v.dispose();
  }
}
