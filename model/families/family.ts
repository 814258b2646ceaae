import type { BertConfig } from '../bert-config.ts';

/** How a parameter is initialised (Hugging Face's _init_weights for the family). */
export type Init = 'normal' | 'zeros' | 'ones';

/** One parameter of a family's MLM model, in Hugging Face's state_dict() order. */
export interface FamilyParam {
  name: string;
  shape: number[];
  init: Init;
  /** AdamW weight decay applies: not to biases and not to normalisation layers (by module kind, as HF Trainer). */
  decay: boolean;
  /** 'normal' only: its standard deviation (default: initializer_range). */
  std?: number;
  /** 'normal' only: truncated at ±2 std (ModernBERT). */
  truncated?: boolean;
  /** Embedding rows set to 0 at init (padding_idx rows). */
  zeroRows?: number[];
}

/** Special-token roles a family's tokenizer conventionally spells these ways. */
export interface SpecialTokenNames {
  cls: string;
  sep: string;
  pad: string;
  mask: string;
  unk: string;
}

/**
 * A model family: everything that differs between BERT, DistilBERT, RoBERTa
 * and ModernBERT outside an engine. Selected by config.json's `model_type`
 * (registry.ts). Configs are normalised to BERT's field names (hidden_size,
 * num_hidden_layers, ...) so engines and the trainer read one shape; the
 * family's own names are kept too and are what `hfConfig` writes back.
 */
export interface ModelFamily {
  modelType: string;
  /** Hugging Face's MLM class (config.json `architectures`). */
  mlmArchitecture: string;
  /** Fills the family's defaults, maps its names to BERT's, checks every field (naming it). */
  resolve(raw: Record<string, unknown>, source: string): BertConfig & Record<string, unknown>;
  /** The MLM model's trainable parameters (tied decoder excluded), state_dict() order. */
  mlmParams(c: BertConfig): FamilyParam[];
  /** Aliases torch's state_dict() lists for tied parameters: [alias, target]. */
  tiedAliases: Array<[string, string]>;
  /** Names a checkpoint may carry that the MLM model ignores (buffers, poolers, other heads). */
  ignorable(name: string): boolean;
  /** Legacy spellings Hugging Face's loader still accepts, mapped to today's. */
  canonicalName(name: string): string;
  /** config.json as Hugging Face writes it for this family (own names; no aliases it would not write). */
  hfConfig(c: BertConfig & Record<string, unknown>): Record<string, unknown>;
  /** The config the torch engine's C++ side reads (BERT names plus the family's resolved settings). */
  nativeConfig(c: BertConfig & Record<string, unknown>): Record<string, unknown>;
  /** The libtorch engine's encoder and MLM head names (native/torch/src/model/). */
  native: { encoder: string; mlmHead: string };
  /** Longest sequence the positions allow. */
  maxSeqLen(c: BertConfig): number;
  /** Token types the model takes (BERT: type_vocab_size; the others: only 0). */
  usesTokenTypes: boolean;
  specialTokens: SpecialTokenNames;
  /** config.json fields naming the tokenizer's special ids (RoBERTa: bos/eos; ModernBERT: cls/sep/mask too); BERT none. */
  tokenIdFields(special: { cls: number; sep: number; pad: number; mask: number }): Record<string, number>;
  /** The tfjs engine: null when supported, else why not. */
  tfjsUnsupported: string | null;
}
