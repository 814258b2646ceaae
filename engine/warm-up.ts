import { resolveBertConfig } from '../model/bert-config.ts';
import { createEngine, type EngineName } from './create-engine.ts';
import type { MlmBatch } from './engine.ts';
import { tryLoadTorchAddon } from './torch/native.ts';

/**
 * Pays an engine's one-time costs before a job needs it: loading the libtorch
 * addon and its thread pools (and, on a GPU, the CUDA context), instantiating
 * tfjs's wasm module, and the first pass through each kernel (V8 tiers up the
 * wasm and JS it runs). A rank process that waits for work calls this, so the
 * first real step starts warm. A 1-layer model of a few thousand parameters:
 * tens of milliseconds, nothing kept afterwards (engines disposed).
 *
 * Returns the engines warmed; an engine that fails here is left for the job
 * to report (its error then names the job's own model), never thrown.
 */
export async function warmUpEngines(log: (line: string) => void = () => {}): Promise<EngineName[]> {
  const engines: EngineName[] = [];
  if (tryLoadTorchAddon().addon) engines.push('torch');
  engines.push('wasm');
  const warmed: EngineName[] = [];
  for (const name of engines) {
    try {
      await runTinyStep(name);
      warmed.push(name);
    } catch (e) {
      log(`warm-up of engine ${name} failed (a job on it will report why): ${(e as Error).message}`);
    }
  }
  return warmed;
}

const TINY = resolveBertConfig(
  { vocab_size: 64, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 32, max_position_embeddings: 16 },
  'warm-up model',
);

async function runTinyStep(name: EngineName): Promise<void> {
  const engine = await createEngine(name, { config: TINY, seed: 0 });
  try {
    const n = 2 * 8;
    const batch: MlmBatch = { batchSize: 2, seqLen: 8, inputIds: new Int32Array(n), attentionMask: new Int32Array(n).fill(1), labels: new Int32Array(n).fill(-100) };
    for (let i = 0; i < n; i++) batch.inputIds[i] = 5 + ((i * 7) % 50);
    batch.labels[3] = batch.inputIds[3]!;
    batch.labels[11] = batch.inputIds[11]!;
    await engine.evaluate(batch);
    engine.zeroGrad();
    await engine.forwardBackward(batch, true);
    await engine.optimizerStep({ lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxGradNorm: 1, gradScale: 1 });
  } finally {
    engine.dispose();
  }
}
