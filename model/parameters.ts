import { Rng } from '../common/rng.ts';
import { numel, shapeText, type HostTensor, type StateDict } from './state-dict.ts';
import type { BertConfig } from './bert-config.ts';
import { headParams, ignorableName, MLM_HEAD, withTiedCopies, type ModelHead } from './model-head.ts';

/**
 * BertForMaskedLM's (or, with a classification head, BertForSequenceClassification's)
 * parameters under their Hugging Face state-dict names and PyTorch shapes, in
 * state_dict() order. Every engine lays its flat parameter and gradient
 * buffers out in this order, which is what lets ranks all-reduce one buffer
 * and checkpoints move between engines.
 */
export interface ParamSpec {
  name: string;
  shape: number[];
  /** Offset into the flat buffer, in floats. */
  offset: number;
  size: number;
  /** How BERT's _init_weights initialises it. */
  init: 'normal' | 'zeros' | 'ones';
  /** AdamW weight decay applies (not to biases and LayerNorm, as HF Trainer). */
  decay: boolean;
}

export function bertParamSpecs(c: BertConfig, head: ModelHead = MLM_HEAD): ParamSpec[] {
  const H = c.hidden_size;
  const list: Array<[string, number[], ParamSpec['init']]> = [
    ['bert.embeddings.word_embeddings.weight', [c.vocab_size, H], 'normal'],
    ['bert.embeddings.position_embeddings.weight', [c.max_position_embeddings, H], 'normal'],
    ['bert.embeddings.token_type_embeddings.weight', [c.type_vocab_size, H], 'normal'],
    ['bert.embeddings.LayerNorm.weight', [H], 'ones'],
    ['bert.embeddings.LayerNorm.bias', [H], 'zeros'],
  ];
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const p = `bert.encoder.layer.${i}.`;
    for (const qkv of ['query', 'key', 'value']) {
      list.push([`${p}attention.self.${qkv}.weight`, [H, H], 'normal'], [`${p}attention.self.${qkv}.bias`, [H], 'zeros']);
    }
    list.push(
      [`${p}attention.output.dense.weight`, [H, H], 'normal'],
      [`${p}attention.output.dense.bias`, [H], 'zeros'],
      [`${p}attention.output.LayerNorm.weight`, [H], 'ones'],
      [`${p}attention.output.LayerNorm.bias`, [H], 'zeros'],
      [`${p}intermediate.dense.weight`, [c.intermediate_size, H], 'normal'],
      [`${p}intermediate.dense.bias`, [c.intermediate_size], 'zeros'],
      [`${p}output.dense.weight`, [H, c.intermediate_size], 'normal'],
      [`${p}output.dense.bias`, [H], 'zeros'],
      [`${p}output.LayerNorm.weight`, [H], 'ones'],
      [`${p}output.LayerNorm.bias`, [H], 'zeros'],
    );
  }
  list.push(...headParams(c, head));
  let offset = 0;
  return list.map(([name, shape, init]) => {
    const size = numel(shape);
    const spec = { name, shape, offset, size, init, decay: !(name.endsWith('.bias') || name.includes('LayerNorm')) };
    offset += size;
    return spec;
  });
}

export function totalSize(specs: ParamSpec[]): number {
  const last = specs[specs.length - 1]!;
  return last.offset + last.size;
}

/** BERT's _init_weights: N(0, initializer_range), zero biases, LayerNorm ones, zero padding row (`only`: those parameters). */
export function initBertWeights(c: BertConfig, seed: number, head: ModelHead = MLM_HEAD, only?: (name: string) => boolean): StateDict {
  const rng = new Rng(seed);
  const sd: StateDict = new Map();
  for (const s of bertParamSpecs(c, head)) {
    if (only && !only(s.name)) continue;
    const data = new Float32Array(s.size);
    if (s.init === 'ones') data.fill(1);
    else if (s.init === 'normal') for (let i = 0; i < s.size; i++) data[i] = rng.normal() * c.initializer_range;
    if (s.name === 'bert.embeddings.word_embeddings.weight') {
      data.fill(0, c.pad_token_id * c.hidden_size, (c.pad_token_id + 1) * c.hidden_size);
    }
    sd.set(s.name, { shape: s.shape, data });
  }
  return sd;
}

/**
 * Maps a foreign state dict onto our parameters. Accepts what Hugging Face's
 * own loader accepts (legacy LayerNorm gamma/beta names, a BertModel without
 * the `bert.` prefix) and rejects anything else missing, unexpected or of the
 * wrong shape, listing every offender: never a silent partial load.
 */
export function matchStateDict(
  c: BertConfig,
  incoming: StateDict,
  source: string,
  head: ModelHead = MLM_HEAD,
): { tensors: StateDict; ignored: string[] } {
  const specs = bertParamSpecs(c, head);
  const renamed = canonicalNames(incoming);
  const tensors: StateDict = new Map();
  const missing: string[] = [];
  const wrongShape: string[] = [];
  for (const s of specs) {
    const t = renamed.get(s.name);
    if (!t) {
      missing.push(s.name);
      continue;
    }
    if (t.shape.length !== s.shape.length || t.shape.some((d, i) => d !== s.shape[i])) {
      wrongShape.push(`${s.name}: checkpoint ${shapeText(t.shape)}, model ${shapeText(s.shape)}`);
      continue;
    }
    tensors.set(s.name, t);
  }
  const known = new Set(specs.map((s) => s.name));
  const ignored: string[] = [];
  const unexpected: string[] = [];
  for (const name of renamed.keys()) {
    if (known.has(name)) continue;
    if (ignorableName(name, head)) ignored.push(name);
    else unexpected.push(name);
  }
  // A checkpoint without an output bias (rare) is still a complete model.
  if (head.kind === 'mlm' && missing.length === 1 && missing[0] === 'cls.predictions.bias') {
    const dec = renamed.get('cls.predictions.decoder.bias');
    tensors.set('cls.predictions.bias', dec ?? { shape: [c.vocab_size], data: new Float32Array(c.vocab_size) });
    missing.length = 0;
  }
  if (missing.length || unexpected.length || wrongShape.length) {
    const parts: string[] = [];
    if (missing.length) parts.push(`missing ${missing.length}: ${missing.join(', ')}`);
    if (unexpected.length) parts.push(`unexpected ${unexpected.length}: ${unexpected.join(', ')}`);
    if (wrongShape.length) parts.push(`wrong shape ${wrongShape.length}: ${wrongShape.join('; ')}`);
    throw new Error(`${source}: checkpoint does not match the model config\n  ${parts.join('\n  ')}`);
  }
  // Return tensors in canonical order.
  const ordered: StateDict = new Map();
  for (const s of specs) ordered.set(s.name, tensors.get(s.name) as HostTensor);
  return { tensors: ordered, ignored };
}

/** Hugging Face's legacy names (LayerNorm gamma/beta, a BertModel without the `bert.` prefix) as today's. */
export function canonicalNames(incoming: StateDict): StateDict {
  const renamed: StateDict = new Map();
  for (const [raw, t] of incoming) {
    let name = raw.replace(/LayerNorm\.gamma$/, 'LayerNorm.weight').replace(/LayerNorm\.beta$/, 'LayerNorm.bias');
    if (/^(embeddings|encoder|pooler)\./.test(name)) name = `bert.${name}`;
    renamed.set(name, t);
  }
  return renamed;
}

/** Adds the tied duplicates torch's BertForMaskedLM.state_dict() contains, for .pth files. */
export function withTiedDecoder(sd: StateDict): StateDict {
  return withTiedCopies(sd, MLM_HEAD);
}
