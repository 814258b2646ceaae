import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Rng } from '../../common/rng.ts';
import { readSafetensors, writeSafetensors } from '../../model/formats/safetensors.ts';
import type { StateDict } from '../../model/state-dict.ts';
import { HostAdamW } from '../../engine/host-adamw.ts';
import { bertParamSpecs, initBertWeights, totalSize } from '../../model/parameters.ts';
import { tinyConfig } from '../helpers/tiny-model.ts';
import { relativeError, runReference, scratchDir } from '../helpers/torch-reference.ts';

test('AdamW steps (decay groups, bias correction, clipping, scaling) match torch.optim.AdamW within 1e-6', () => {
  const config = tinyConfig();
  const specs = bertParamSpecs(config);
  const n = totalSize(specs);
  const params = new Float32Array(n);
  for (const s of specs) params.set(initBertWeights(config, 3).get(s.name)!.data, s.offset);
  const rng = new Rng(5);
  const steps = 3;
  const grads = Array.from({ length: steps }, () => Float32Array.from({ length: n }, () => rng.normal() * 3));
  const h = { lr: 1e-2, beta1: 0.9, beta2: 0.98, eps: 1e-6, weightDecay: 0.1, maxGradNorm: 50, gradScale: 0.25 };

  const dir = scratchDir('adamw');
  const tensors: StateDict = new Map();
  for (const s of specs) {
    tensors.set(`param.${s.name}`, { shape: s.shape, data: params.slice(s.offset, s.offset + s.size) });
    grads.forEach((g, k) => tensors.set(`grad${k}.${s.name}`, { shape: s.shape, data: g.slice(s.offset, s.offset + s.size) }));
  }
  writeSafetensors(join(dir, 'adamw.safetensors'), tensors);
  writeFileSync(
    join(dir, 'adamw.json'),
    JSON.stringify({
      names: specs.map((s) => s.name),
      decay: specs.filter((s) => s.decay).map((s) => s.name),
      steps,
      lr: h.lr,
      beta1: h.beta1,
      beta2: h.beta2,
      eps: h.eps,
      weight_decay: h.weightDecay,
      max_grad_norm: h.maxGradNorm,
      grad_scale: h.gradScale,
    }),
  );
  runReference('adamw', dir);
  const ref = readSafetensors(join(dir, 'adamw_ref.safetensors')).tensors;

  const opt = new HostAdamW(specs, n);
  let clipped = 0;
  for (const g of grads) {
    const { gradNorm } = opt.apply(params, g.slice(), h);
    if (gradNorm > h.maxGradNorm) clipped++;
  }
  assert.ok(clipped > 0, 'the test exercises clipping');
  for (const s of specs) {
    const err = relativeError(params.subarray(s.offset, s.offset + s.size), ref.get(`param.${s.name}`)!.data);
    assert.ok(err < 1e-6, `${s.name}: relative error ${err}`);
  }
});
