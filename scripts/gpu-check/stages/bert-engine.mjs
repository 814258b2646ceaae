// The libtorch engine on a BERT of a given shape, as the timed step and the
// NCCL stage both build it: the addon loaded directly (no tsx on the GPU
// machine), bert_specs.py's parameter layout, and seeded values (they do not
// matter for speed or for the sync checks; N(0, 0.02)-sized ones keep the
// arithmetic ordinary, LayerNorm weights 1).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ROOT } from './lib.mjs';

/** shape: { layers, hidden, heads, inter }; specsFile: bert_specs.py's output for that config. */
export function createBertEngine(shape, specsFile, device, threads = 4) {
  const { TorchEngine } = createRequire(import.meta.url)(join(ROOT, 'native/torch/build/Release/gradpool_torch.node'));
  const config = {
    vocab_size: 30522, hidden_size: shape.hidden, num_hidden_layers: shape.layers, num_attention_heads: shape.heads,
    intermediate_size: shape.inter, max_position_embeddings: 512, type_vocab_size: 2, layer_norm_eps: 1e-12,
    pad_token_id: 0, hidden_dropout_prob: 0.1, attention_probs_dropout_prob: 0.1,
  };
  const { specs, size: n } = JSON.parse(readFileSync(specsFile, 'utf8'));
  const params = new Float32Array(n);
  for (let i = 0, x = 12345; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    params[i] = ((x / 2 ** 32) - 0.5) * 0.04;
  }
  for (const s of specs) if (s.name.includes('LayerNorm.weight')) params.fill(1, s.offset, s.offset + s.size);
  return { engine: new TorchEngine({ config, specs, params, device, threads }), config, numParams: n };
}
