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
  constructor(private readonly specs: ParamSpec[], n: number) {
    this.expAvg = new Float32Array(n);
    this.expAvgSq = new Float32Array(n);
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
    const oneMinusB1 = 1 - beta1;
    const oneMinusB2 = 1 - beta2;
    const m = this.expAvg;
    const v = this.expAvgSq;
    // One tight loop per parameter tensor: decay applies per tensor, so no per-element branch.
    for (const s of this.specs) {
      const decay = s.decay ? 1 - lr * weightDecay : 1;
      const end = s.offset + s.size;
      for (let i = s.offset; i < end; i++) {
        const g = grads[i]!;
        const mi = (m[i] = m[i]! * beta1 + g * oneMinusB1);
        const vi = (v[i] = v[i]! * beta2 + g * g * oneMinusB2);
        params[i] = params[i]! * decay - (stepSize * mi) / (Math.sqrt(vi) / bc2Sqrt + eps);
      }
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
}
