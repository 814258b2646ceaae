import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readJsonNamed } from '../common/read-file.ts';
import { loadTokenizer } from '../data/tokenizer/load-tokenizer.ts';
import type { Tokenizer } from '../data/tokenizer/tokenizer.ts';
import { readBertConfig, type BertConfig } from '../model/bert-config.ts';
import { loadHfModel } from '../model/hf-folder.ts';
import { headOfStateDict, type ModelHead } from '../model/model-head.ts';
import type { StateDict } from '../model/state-dict.ts';
import { loadVerifiedStateDict } from '../train/checkpointer.ts';
import { runPaths, type RunSpec } from '../train/run-spec.ts';
import { relocateRun } from '../train/saved-params.ts';

/** A trained model as `fill-mask` and `classify` use it. */
export interface InferenceModel {
  config: BertConfig;
  weights: StateDict;
  head: ModelHead;
  tokenizer: Tokenizer;
  /** A classifier's labels in id order; null for an MLM model. */
  labels: string[] | null;
  /** The run's classification stage the classifier was trained in (fields, seq_len); null for an HF folder. */
  stage: { index: number; run: RunSpec } | null;
}

/**
 * `source` is a run folder (its best.pth or last.pth, read with the run's
 * saved_params.json) or a Hugging Face model folder (config.json +
 * model.safetensors, a classifier's labels from id2label).
 */
export function loadInferenceModel(source: string, which: 'best' | 'last'): InferenceModel {
  const paths = runPaths(source);
  if (existsSync(paths.savedParams)) {
    const saved = readJsonNamed<{ run: RunSpec; best?: { stage: number } | null }>(paths.savedParams, 'run parameters');
    saved.run = relocateRun(saved.run, resolve(source), () => {});
    const file = which === 'best' ? paths.best : paths.last;
    if (!existsSync(file)) throw new Error(`${file} does not exist yet (no ${which} checkpoint in this run)`);
    const weights = loadVerifiedStateDict(file);
    const head = headOfStateDict(weights);
    const index = head.kind === 'classification' ? classifierStage(saved.run, head.numLabels, saved.best?.stage) : -1;
    return {
      config: saved.run.modelConfig,
      weights,
      head,
      tokenizer: loadTokenizer(saved.run.tokenizerDir),
      labels: index >= 0 ? saved.run.classification[index]!.labels : null,
      stage: index >= 0 ? { index, run: saved.run } : null,
    };
  }
  if (existsSync(join(source, 'config.json'))) {
    const m = loadHfModel(source);
    return { config: readBertConfig(join(source, 'config.json')), weights: m.weights, head: m.head, tokenizer: loadTokenizer(source), labels: m.labels, stage: null };
  }
  throw new Error(`${source}: neither a run folder (saved_params.json) nor a Hugging Face model folder (config.json)`);
}

/** The classification stage a run's classifier comes from: the best's stage, else the last one with that many labels. */
function classifierStage(run: RunSpec, numLabels: number, bestStage: number | undefined): number {
  const fits = (i: number) => run.classification[i]?.labels.length === numLabels;
  if (bestStage !== undefined && fits(bestStage)) return bestStage;
  for (let i = run.classification.length - 1; i >= 0; i--) if (fits(i)) return i;
  throw new Error(`${run.runDir}: no classification stage with ${numLabels} labels in saved_params.json`);
}
