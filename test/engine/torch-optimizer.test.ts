import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Rng } from '../../common/rng.ts';
import { readSafetensors, writeSafetensors } from '../../model/formats/safetensors.ts';
import type { StateDict } from '../../model/state-dict.ts';
import { HostAdamW } from '../../engine/host-adamw.ts';
import { TorchEngine } from '../../engine/torch/torch-engine.ts';
import { bertParamSpecs, totalSize } from '../../model/parameters.ts';
import { randomBatch, tinyConfig } from '../helpers/tiny-model.ts';
import { relativeError, runReference, scratchDir } from '../helpers/torch-reference.ts';
import { torchSkip } from './torch-available.ts';

const skip = torchSkip();

test('torch: AdamW steps (decay groups, bias correction, clipping, scaling) match torch.optim.AdamW within 1e-6', { skip }, async () => {
  const config = tinyConfig();
  const specs = bertParamSpecs(config);
  const n = totalSize(specs);
  const engine = await TorchEngine.create({ config, seed: 3, device: 'cpu', threads: 1 });
  const params = engine.parameters();
  const rng = new Rng(5);
  const steps = 3;
  const grads = Array.from({ length: steps }, () => Float32Array.from({ length: n }, () => rng.normal() * 3));
  const h = { lr: 1e-2, beta1: 0.9, beta2: 0.98, eps: 1e-6, weightDecay: 0.1, maxGradNorm: 50, gradScale: 0.25 };

  const dir = scratchDir('torch-adamw');
  const tensors: StateDict = new Map();
  for (const s of specs) {
    tensors.set(`param.${s.name}`, { shape: s.shape, data: params.slice(s.offset, s.offset + s.size) });
    grads.forEach((g, k) => tensors.set(`grad${k}.${s.name}`, { shape: s.shape, data: g.slice(s.offset, s.offset + s.size) }));
  }
  writeSafetensors(join(dir, 'adamw.safetensors'), tensors);
  writeFileSync(join(dir, 'adamw.json'), JSON.stringify({
    names: specs.map((s) => s.name),
    decay: specs.filter((s) => s.decay).map((s) => s.name),
    steps, lr: h.lr, beta1: h.beta1, beta2: h.beta2, eps: h.eps,
    weight_decay: h.weightDecay, max_grad_norm: h.maxGradNorm, grad_scale: h.gradScale,
  }));
  runReference('adamw', dir);
  const ref = readSafetensors(join(dir, 'adamw_ref.safetensors')).tensors;

  let clipped = 0;
  for (const g of grads) {
    engine.zeroGrad();
    engine.gradients().set(g); // as the all-reduce would: in place, through the shared view
    const { gradNorm } = await engine.optimizerStep(h);
    if (gradNorm > h.maxGradNorm) clipped++;
  }
  assert.ok(clipped > 0, 'the test exercises clipping');
  const ours = engine.parameters();
  for (const s of specs) {
    const err = relativeError(ours.subarray(s.offset, s.offset + s.size), ref.get(`param.${s.name}`)!.data);
    assert.ok(err < 1e-6, `${s.name}: relative error ${err}`);
  }
  assert.equal(engine.optimizerState().step, steps);
  engine.dispose();
});

test('torch: an optimizer step on real gradients matches HostAdamW; optimizer state round-trips', { skip }, async () => {
  const config = tinyConfig();
  const specs = bertParamSpecs(config);
  const n = totalSize(specs);
  const engine = await TorchEngine.create({ config, seed: 9, device: 'cpu', threads: 1 });
  const host = new HostAdamW(specs, n);
  const params = engine.parameters();
  const h = { lr: 5e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxGradNorm: 1, gradScale: 1 / 40 };
  for (let step = 0; step < 3; step++) {
    engine.zeroGrad();
    await engine.forwardBackward(randomBatch(config, 2, 16, 100 + step), true);
    const g = engine.gradients().slice();
    const a = await engine.optimizerStep(h);
    const b = host.apply(params, g, h);
    assert.ok(Math.abs(a.gradNorm - b.gradNorm) <= 1e-6 * b.gradNorm, `grad norm ${a.gradNorm} vs ${b.gradNorm}`);
    engine.setParameters(params); // keep both on the same weights
  }
  const err = relativeError(engine.parameters(), params);
  assert.ok(err < 1e-6, `parameters: relative error ${err}`);
  const st = engine.optimizerState();
  assert.equal(st.step, 3);
  assert.ok(relativeError(st.expAvg, host.expAvg) < 1e-6 && relativeError(st.expAvgSq, host.expAvgSq) < 1e-6);

  // State round-trip: a second engine loaded with weights + moments steps identically.
  const other = await TorchEngine.create({ config, seed: 1, device: 'cpu', threads: 1, weights: engine.stateDict() });
  other.loadOptimizerState(st);
  other.setRngState(engine.rngState());
  const batch = randomBatch(config, 2, 16, 7);
  for (const e of [engine, other]) {
    e.zeroGrad();
    await e.forwardBackward(batch, true);
    await e.optimizerStep(h);
  }
  assert.deepEqual(other.parameters(), engine.parameters());
  assert.throws(() => other.loadOptimizerState({ step: 1, expAvg: new Float32Array(3), expAvgSq: new Float32Array(3) }), /3 moments/);
  assert.throws(() => other.loadStateDict(new Map([['nope', { shape: [1], data: new Float32Array(1) }]]), 'bad.pth'), /bad\.pth.*missing/s);
  engine.dispose();
  other.dispose();
});
