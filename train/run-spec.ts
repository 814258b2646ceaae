import type { Job } from '../spec/job-spec.ts';
import type { StagePlan } from '../spec/plan-stages.ts';
import type { SpecialIds } from '../data/tokenizer/tokenizer.ts';
import type { BertConfig } from '../model/bert-config.ts';

/**
 * Everything a rank needs to train, resolved by the coordinator side
 * (prepareRun): plain data, serialisable, so the service can ship it in a
 * rank job and `--resume` can read it back from saved_params.json.
 */
export interface RunSpec {
  job: Job;
  runDir: string;
  modelConfig: BertConfig;
  /** Hugging Face folder whose weights start stage 0; null = BERT init from the job seed. */
  initFrom: string | null;
  /** Folder holding vocab.txt / tokenizer.json, copied into the exported hf/ folder. */
  tokenizerDir: string;
  special: SpecialIds;
  /** The MLM corpus' token caches; "" when every stage is a classification stage. */
  trainCache: string;
  validCache: string;
  cacheKey: string;
  /** One plan per stage, for this run's world size. */
  plans: StagePlan[];
  /** Per stage: a classification stage's labelled data; null for MLM stages. */
  classification: Array<ClassificationData | null>;
}

/** What a classification stage trains on, resolved by prepareRun. */
export interface ClassificationData {
  /** Label names in id order (config.json's id2label). */
  labels: string[];
  trainCache: string;
  validCache: string;
  cacheKey: string;
  trainPerLabel: number[];
  validPerLabel: number[];
  /** One weight per label (balanced ones computed from the training split); null = all 1. */
  classWeights: number[] | null;
}

/** Where things go inside runs/<name>/. */
export function runPaths(runDir: string) {
  return {
    checkpoints: `${runDir}/checkpoints`,
    best: `${runDir}/checkpoints/best.pth`,
    last: `${runDir}/checkpoints/last.pth`,
    logs: `${runDir}/logs`,
    tensorboard: `${runDir}/tensorboard_logs`,
    hf: `${runDir}/hf`,
    savedParams: `${runDir}/saved_params.json`,
  };
}
