import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../common/atomic-write.ts';
import { readSafetensors, writeSafetensors } from './formats/safetensors.ts';
import type { StateDict } from './state-dict.ts';
import { readBertConfig, type BertConfig } from './bert-config.ts';
import { headOfStateDict, labelsOfConfig, type ModelHead } from './model-head.ts';
import { matchStateDict } from './parameters.ts';
import { familyOfConfig } from './families/registry.ts';

/**
 * A Hugging Face model folder: config.json (its model_type picks the family)
 * + model.safetensors + vocab.txt and/or tokenizer.json (+ vocab.json, merges.txt). This is how users bring bert-base-uncased (or their
 * own checkpoint) and how runs hand their best model back.
 */
export interface HfModel {
  dir: string;
  config: BertConfig & Record<string, unknown>;
  /** Matched strictly against the config and head; tied decoder and pretraining extras dropped. */
  weights: StateDict;
  /** Names present in the file that the model does not use (pooler and NSP head of an MLM model, tied copies). */
  ignored: string[];
  /** A classifier when the weights hold classifier.weight, else the MLM model. */
  head: ModelHead;
  /** A classifier's label names in id order (config.json's id2label); null otherwise. */
  labels: string[] | null;
}

export function loadHfModel(dir: string): HfModel {
  const configPath = join(dir, 'config.json');
  if (!existsSync(configPath)) throw new Error(`${dir}: not a Hugging Face model folder (no config.json)`);
  const config = readBertConfig(configPath);
  const weightsPath = join(dir, 'model.safetensors');
  if (!existsSync(weightsPath)) {
    const hint = existsSync(join(dir, 'pytorch_model.bin'))
      ? ' (it has pytorch_model.bin: convert it with `python -c "import torch, safetensors.torch as s; ' +
        's.save_file(torch.load(\'pytorch_model.bin\'), \'model.safetensors\')"`)'
      : '';
    throw new Error(`${dir}: no model.safetensors${hint}`);
  }
  const { tensors } = readSafetensors(weightsPath);
  const head = headOfStateDict(tensors);
  const { tensors: weights, ignored } = matchStateDict(config, tensors, weightsPath, head);
  const labels = head.kind === 'classification' ? labelsOfConfig(config) : null;
  if (head.kind === 'classification' && labels?.length !== head.numLabels) {
    throw new Error(`${configPath}: id2label has ${labels?.length ?? 0} labels, the classifier ${head.numLabels}`);
  }
  return { dir, config, weights, ignored, head, labels };
}

/** Tokenizer files that travel with a model folder. */
export const TOKENIZER_FILES = ['vocab.txt', 'tokenizer.json', 'vocab.json', 'merges.txt', 'tokenizer_config.json', 'special_tokens_map.json'];

/**
 * Writes config.json, model.safetensors (without the tied decoder copy, as
 * save_pretrained does) and the tokenizer files found in `tokenizerDir`.
 * `extra` config fields win (a classifier's architectures, id2label, label2id).
 */
export function saveHfModel(dir: string, config: BertConfig, weights: StateDict, tokenizerDir?: string, extra: Record<string, unknown> = {}): void {
  mkdirSync(dir, { recursive: true });
  const full = { ...familyOfConfig(config).hfConfig(config as BertConfig & Record<string, unknown>), ...extra };
  writeFileAtomic(join(dir, 'config.json'), Buffer.from(`${JSON.stringify(full, null, 2)}\n`));
  writeSafetensors(join(dir, 'model.safetensors'), weights);
  if (tokenizerDir) {
    for (const f of TOKENIZER_FILES) if (existsSync(join(tokenizerDir, f))) copyFileSync(join(tokenizerDir, f), join(dir, f));
  }
}
