import { Rng } from '../common/rng.ts';
import { numel, shapeText, type HostTensor, type StateDict } from './state-dict.ts';
import type { BertConfig } from './bert-config.ts';
import type { FamilyParam } from './families/family.ts';
import { familyOf, familyOfConfig } from './families/registry.ts';
import { headParams, ignorableName, MLM_HEAD, withTiedCopies, type ModelHead } from './model-head.ts';

/**
 * <Family>ForMaskedLM's (or, with a classification head, BertForSequenceClassification's)
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
  /** How the family's _init_weights initialises it. */
  init: 'normal' | 'zeros' | 'ones';
  /** AdamW weight decay applies (not to biases and normalisation layers, as HF Trainer). */
  decay: boolean;
  /** 'normal': standard deviation (default initializer_range) and truncation at ±2 std. */
  std?: number;
  truncated?: boolean;
  /** Rows zeroed at init (padding_idx). */
  zeroRows?: number[];
}

/**
 * The model's parameters for its family (config.model_type) and head: the
 * family's encoder and MLM head, or BERT's encoder and the classification head.
 */
export function bertParamSpecs(c: BertConfig, head: ModelHead = MLM_HEAD): ParamSpec[] {
  const family = familyOfConfig(c);
  let list: FamilyParam[];
  if (head.kind === 'classification') {
    if (family.modelType !== 'bert') {
      throw new Error(`classification stages train BertForSequenceClassification: model_type ${family.modelType} has no classification head here (MLM only)`);
    }
    const encoder = family.mlmParams(c).filter((p) => p.name.startsWith('bert.'));
    list = [...encoder, ...headParams(c, head).map(([name, shape, init]) => ({ name, shape, init, decay: init === 'normal' }))];
  } else {
    list = family.mlmParams(c);
  }
  let offset = 0;
  return list.map((p) => {
    const size = numel(p.shape);
    const spec: ParamSpec = { ...p, offset, size };
    offset += size;
    return spec;
  });
}

export function totalSize(specs: ParamSpec[]): number {
  const last = specs[specs.length - 1]!;
  return last.offset + last.size;
}

/**
 * The family's _init_weights: N(0, std) (truncated at ±2 std where the family
 * does so), zero biases, norm weights 1, zero padding rows (`only`: those parameters).
 */
export function initBertWeights(c: BertConfig, seed: number, head: ModelHead = MLM_HEAD, only?: (name: string) => boolean): StateDict {
  const rng = new Rng(seed);
  const sd: StateDict = new Map();
  for (const s of bertParamSpecs(c, head)) {
    if (only && !only(s.name)) continue;
    const data = new Float32Array(s.size);
    const std = s.std ?? c.initializer_range;
    if (s.init === 'ones') data.fill(1);
    else if (s.init === 'normal' && s.truncated) {
      for (let i = 0; i < s.size; i++) {
        let x = rng.normal();
        while (Math.abs(x) > 2) x = rng.normal();
        data[i] = x * std;
      }
    } else if (s.init === 'normal') for (let i = 0; i < s.size; i++) data[i] = rng.normal() * std;
    const width = s.shape[1] ?? 0;
    for (const row of s.zeroRows ?? []) data.fill(0, row * width, (row + 1) * width);
    sd.set(s.name, { shape: s.shape, data });
  }
  return sd;
}

/**
 * Zeros in every parameter's shape: the start of an engine whose weights are
 * about to be replaced (a broadcast from rank 0, a checkpoint), where drawing
 * the random init would be wasted time (seconds for BERT-base).
 */
export function placeholderWeights(c: BertConfig, head: ModelHead = MLM_HEAD): StateDict {
  return new Map(bertParamSpecs(c, head).map((s) => [s.name, { shape: s.shape, data: new Float32Array(s.size) }]));
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
  const renamed = canonicalNames(incoming, c);
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
    if (ignorableName(name, head, c)) ignored.push(name);
    else unexpected.push(name);
  }
  // A checkpoint without an output bias (rare) is still a complete model: the tied alias, else zeros.
  const outputBias = head.kind === 'mlm' ? familyOfConfig(c).tiedAliases.find(([alias, target]) => target === missing[0] && alias.endsWith('.bias')) : undefined;
  if (outputBias && missing.length === 1) {
    tensors.set(outputBias[1], renamed.get(outputBias[0]) ?? { shape: [c.vocab_size], data: new Float32Array(c.vocab_size) });
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

/** Hugging Face's legacy names (BERT: LayerNorm gamma/beta, a base model without its prefix) as today's. */
export function canonicalNames(incoming: StateDict, c?: BertConfig): StateDict {
  const family = c ? familyOfConfig(c) : familyOf('bert');
  const renamed: StateDict = new Map();
  for (const [raw, t] of incoming) renamed.set(family.canonicalName(raw), t);
  return renamed;
}

/** Adds the tied duplicates torch's <Family>ForMaskedLM.state_dict() contains, for .pth files. */
export function withTiedDecoder(sd: StateDict): StateDict {
  return withTiedCopies(sd, MLM_HEAD);
}
