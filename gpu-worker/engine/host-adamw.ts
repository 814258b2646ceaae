import type { ParamSpec } from '../model/parameters.ts';
import type { OptimizerState, OptimizerStep } from './engine.ts';

/**
 * AdamW on flat host buffers, step for step what torch.optim.AdamW (1.13,
 * single-tensor path) does: decoupled decay `p *= 1 - lr·wd` on decayed
 * parameters only, bias-corrected moments, `p -= lr/bc1 · m / (sqrt(v)/sqrt(bc2) + eps)`.
 * Gradient scaling and global-norm clipping (torch.nn.utils.clip_grad_norm_,
 * with its 1e-6) come first. Used by engines whose tensors live in host memory.
 */
export class HostAdamW {
  step = 0;
  readonly expAvg: Float32Array;
  readonly expAvgSq: Float32Array;
  private readonly decayMask: Uint8Array;

  constructor(private readonly specs: ParamSpec[], n: number) {
    this.expAvg = new Float32Array(n);
    this.expAvgSq = new Float32Array(n);
    this.decayMask = new Uint8Array(n);
    for (const s of specs) if (s.decay) this.decayMask.fill(1, s.offset, s.offset + s.size);
  }

  /** Updates `params` in place from `grads` (which it scales and clips in place). */
  apply(params: Float32Array, grads: Float32Array, h: OptimizerStep): { gradNorm: number } {
    const n = params.length;
    let sq = 0;
    if (h.gradScale !== 1) {
      for (let i = 0; i < n; i++) {
        const g = grads[i]! * h.gradScale;
        grads[i] = g;
        sq += g * g;
      }
    } else {
      for (let i = 0; i < n; i++) sq += grads[i]! * grads[i]!;
    }
    const gradNorm = Math.sqrt(sq);
    if (!Number.isFinite(gradNorm)) return { gradNorm };
    if (h.maxGradNorm > 0) {
      const coef = h.maxGradNorm / (gradNorm + 1e-6);
      if (coef < 1) {
        const c = Math.fround(coef);
        for (let i = 0; i < n; i++) grads[i] = grads[i]! * c;
      }
    }
    this.step += 1;
    const { lr, beta1, beta2, eps, weightDecay } = h;
    const bc1 = 1 - beta1 ** this.step;
    const bc2Sqrt = Math.sqrt(1 - beta2 ** this.step);
    const stepSize = lr / bc1;
    const decayFactor = 1 - lr * weightDecay;
    const m = this.expAvg;
    const v = this.expAvgSq;
    const mask = this.decayMask;
    for (let i = 0; i < n; i++) {
      const g = grads[i]!;
      let p = params[i]!;
      if (mask[i]) p = Math.fround(p * decayFactor);
      const mi = Math.fround(m[i]! * beta1 + g * (1 - beta1));
      const vi = Math.fround(v[i]! * beta2 + g * g * (1 - beta2));
      m[i] = mi;
      v[i] = vi;
      const denom = Math.sqrt(vi) / bc2Sqrt + eps;
      params[i] = p - (stepSize * mi) / denom;
    }
    return { gradNorm };
  }

  state(): OptimizerState {
    return { step: this.step, expAvg: this.expAvg.slice(), expAvgSq: this.expAvgSq.slice() };
  }

  load(s: OptimizerState): void {
    if (s.expAvg.length !== this.expAvg.length || s.expAvgSq.length !== this.expAvgSq.length) {
      throw new Error(
        `optimizer state has ${s.expAvg.length} moments for a model of ${this.expAvg.length} parameters`,
      );
    }
    this.step = s.step;
    this.expAvg.set(s.expAvg);
    this.expAvgSq.set(s.expAvgSq);
  }

  get paramSpecs(): ParamSpec[] {
    return this.specs;
  }
}
