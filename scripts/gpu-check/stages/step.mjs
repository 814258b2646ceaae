// Stages 4 and 5: a BERT-base training step at seq 256, micro 32 (the
// product's stage shape) with the libtorch engine in bf16, then the same
// step with HF transformers' BertForMaskedLM + AdamW(fused=True) under bf16
// autocast on the same GPU: tokens/s, MFU against the GPU's bf16 peak, peak
// memory (nvidia-smi, whole process), and our ratio to the peer.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HERE, lastJson, run, sampleGpuMemory } from './lib.mjs';

const BASE = { layers: 12, hidden: 768, heads: 12, inter: 3072, seq: 256, micro: 32, warmup: 3, steps: 10 };
const TINY = { layers: 2, hidden: 128, heads: 2, inter: 512, seq: 64, micro: 2, warmup: 1, steps: 2 };

/** Dense bf16 tensor-core peaks (TFLOP/s) by GPU name, from NVIDIA's data sheets. */
const BF16_PEAK_TFLOPS = [
  [/B200/, 2250], [/H200/, 989], [/H100.*PCIe/, 756], [/H100/, 989], [/GH200/, 989], [/H20\b/, 148],
  [/A100/, 312], [/A800/, 312], [/L40S/, 362], [/L40\b/, 181], [/L4\b/, 121], [/A10G?\b/, 125],
  [/RTX 4090/, 165], [/RTX 6000 Ada/, 365], [/A6000/, 155],
];

export function bf16Peak(gpuName) {
  return BF16_PEAK_TFLOPS.find(([re]) => re.test(gpuName ?? ''))?.[1];
}

/**
 * Model FLOPs per token of a training step (forward + backward): 6 per
 * parameter (the MLM head counted at every position, as HF computes it) plus
 * attention's 12·L·S·H — the usual MFU convention.
 */
export function flopsPerToken(params, s) {
  return 6 * params + 12 * s.layers * s.seq * s.hidden;
}

function shapeOf(ctx) {
  return ctx.dryRun ? TINY : BASE;
}

async function specsFile(ctx, s) {
  const config = {
    vocab_size: 30522, hidden_size: s.hidden, num_hidden_layers: s.layers, num_attention_heads: s.heads,
    intermediate_size: s.inter, max_position_embeddings: 512, type_vocab_size: 2, layer_norm_eps: 1e-12,
    pad_token_id: 0, hidden_dropout_prob: 0.1, attention_probs_dropout_prob: 0.1, initializer_range: 0.02,
  };
  const r = await run(ctx.env.GRADPOOL_TORCH_PYTHON, [join(HERE, 'bert_specs.py'), JSON.stringify(config)], { env: ctx.env, timeoutMs: 60_000 });
  const file = join(ctx.outDir, 'bert-specs.json');
  writeFileSync(file, r.stdout);
  return file;
}

function figures(ctx, s, r, peakMiB) {
  const gpu = ctx.results.env?.torch?.device;
  const peak = bf16Peak(gpu);
  const tflops = r.params ? (r.tokensPerSecond * flopsPerToken(r.params, s)) / 1e12 : undefined;
  return {
    shape: s, tokensPerSecond: Math.round(r.tokensPerSecond), stepMs: Math.round(r.stepMs * 10) / 10,
    ...(tflops !== undefined ? { modelTflops: Number(tflops.toPrecision(3)) } : {}),
    ...(peak && tflops !== undefined ? { mfu: Math.round((tflops / peak) * 1000) / 1000, bf16PeakTflops: peak } : {}),
    ...(peakMiB ? { peakMemoryMiB: peakMiB } : {}),
  };
}

export const stepStage = {
  name: 'step',
  timeoutS: 75,
  needs: ['build'],
  async run(ctx) {
    const s = shapeOf(ctx);
    const o = { ...s, device: ctx.dryRun ? 'cpu' : 'cuda:0', specsFile: await specsFile(ctx, s) };
    let mem;
    const r = await run(process.execPath, [join(HERE, 'step-engine.mjs'), JSON.stringify(o)], {
      env: ctx.env, timeoutMs: ctx.timeoutMs, log: ctx.log, onSpawn: (c) => { if (!ctx.dryRun) mem = sampleGpuMemory(c.pid); },
    });
    const peakMiB = mem?.stop();
    const res = lastJson(r.stdout);
    if (r.code !== 0 || !res) return { status: 'failed', error: `exit ${r.code ?? r.signal}${r.timedOut ? ' (timed out)' : ''}` };
    return { status: 'ok', ...figures(ctx, s, res, peakMiB), params: res.params };
  },
};

export const peerStage = {
  name: 'peer',
  timeoutS: 75,
  needs: ['step'],
  async run(ctx) {
    if (ctx.dryRun) return { status: 'skipped', reason: 'no GPU (dry run)' };
    if (!ctx.results.env?.torch?.transformers) return { status: 'failed', error: 'transformers is not installed for the torch Python' };
    const s = shapeOf(ctx);
    let mem;
    const r = await run(ctx.env.GRADPOOL_TORCH_PYTHON, [join(HERE, 'step-hf.py'), JSON.stringify(s)], {
      env: ctx.env, timeoutMs: ctx.timeoutMs, log: ctx.log, onSpawn: (c) => { mem = sampleGpuMemory(c.pid); },
    });
    const peakMiB = mem?.stop();
    const res = lastJson(r.stdout);
    if (r.code !== 0 || !res) return { status: 'failed', error: `exit ${r.code ?? r.signal}${r.timedOut ? ' (timed out)' : ''}` };
    const ours = ctx.results.step;
    return {
      status: 'ok', ...figures(ctx, s, { ...res, params: ours.params }, peakMiB),
      peakAllocatedMiB: Math.round(res.peakAllocatedMiB), transformers: res.transformers,
      // The figure: our tokens/s over the peer's, same GPU, same run.
      oursOverPeer: Math.round((ours.tokensPerSecond / res.tokensPerSecond) * 1000) / 1000,
    };
  },
};
