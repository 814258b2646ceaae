import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Engine } from '../engine/engine.ts';
import { readSafetensors } from '../model/formats/safetensors.ts';
import { MLM_HEAD, type ModelHead } from '../model/model-head.ts';
import { bertParamSpecs, canonicalNames, initBertWeights } from '../model/parameters.ts';
import type { StateDict } from '../model/state-dict.ts';
import type { GradientSync } from './gradient-sync.ts';
import type { RunSpec } from './run-spec.ts';
import { mixSeed } from './sample-order.ts';

/**
 * Which model each stage trains, and the hand-over between them: MLM stages
 * share BertForMaskedLM; a classification stage trains
 * BertForSequenceClassification on the same encoder. Its pooler starts from
 * init_from's when that folder has one (bert-base-uncased does), its
 * classifier from BERT's init (seeded by the run seed and the stage); a
 * following classification stage with the same labels continues it.
 */
export function stageHead(spec: RunSpec, stage: number): ModelHead {
  const s = spec.job.stages[stage]!;
  if (s.task !== 'classification') return MLM_HEAD;
  const labels = spec.classification[stage]!.labels;
  return { kind: 'classification', numLabels: labels.length, ...(s.classifier_dropout !== null ? { classifierDropout: s.classifier_dropout } : {}) };
}

/**
 * Stage `stage`'s model on the engine before its first step; true when it
 * is a new model (another head, or other labels), whose best metric starts
 * afresh. Rank 0 reads init_from and its weights reach every rank.
 */
export async function enterStageModel(spec: RunSpec, stage: number, engine: Engine, sync: GradientSync): Promise<boolean> {
  const head = stageHead(spec, stage);
  if (continuesModel(spec, stage, engine.head)) {
    if (head.kind === 'classification' && engine.head.kind === 'classification' && head.classifierDropout !== engine.head.classifierDropout) {
      engine.setModel(head, engine.stateDict(), `stage ${stage}`);
    }
    return false;
  }
  if (head.kind !== 'classification') throw new Error(`stage ${stage}: an mlm stage cannot follow a classification stage`);
  const sources = [engine.stateDict(), ...(sync.rank === 0 ? initFromTensors(spec) : [])];
  engine.setModel(head, classifierStartWeights(spec, stage, sources), `stage ${stage}'s classifier`);
  if (sync.worldSize > 1) {
    const flat = engine.parameters();
    await sync.broadcast(flat, 0);
    engine.setParameters(flat);
  }
  return true;
}

/** The engine's model is the one stage `stage` trains on: same head, and for a classifier the previous stage's labels. */
function continuesModel(spec: RunSpec, stage: number, current: ModelHead): boolean {
  const head = stageHead(spec, stage);
  if (head.kind !== current.kind) return false;
  if (head.kind === 'mlm') return true;
  const prev = spec.classification[stage - 1];
  const labels = spec.classification[stage]!.labels;
  return prev !== undefined && prev !== null && prev.labels.join('\u0000') === labels.join('\u0000');
}

/**
 * A classifier's first weights: each parameter from the first source that
 * has it in that shape (the encoder being trained, init_from), else BERT's
 * init. Every encoder parameter must come from a source when any is given.
 */
export function classifierStartWeights(spec: RunSpec, stage: number, sources: StateDict[]): StateDict {
  const head = stageHead(spec, stage);
  const isHead = (name: string) => /^(bert\.pooler\.|classifier\.)/.test(name);
  const init = initBertWeights(spec.modelConfig, mixSeed(spec.job.seed, 0xc1a5, stage), head, sources.length ? isHead : undefined);
  const named = sources.map((s) => canonicalNames(s, spec.modelConfig));
  const out: StateDict = new Map();
  const missing: string[] = [];
  for (const s of bertParamSpecs(spec.modelConfig, head)) {
    const t = named.map((sd) => sd.get(s.name)).find((x) => x && x.shape.join() === s.shape.join());
    if (!t && sources.length && !isHead(s.name)) missing.push(s.name);
    out.set(s.name, t ?? init.get(s.name)!);
  }
  if (missing.length) throw new Error(`stage ${stage}: the encoder lacks ${missing.length} parameter(s): ${missing.slice(0, 5).join(', ')}`);
  return out;
}

/** init_from's tensors (its pooler, its encoder), or none. */
export function initFromTensors(spec: RunSpec): StateDict[] {
  const file = spec.initFrom ? join(spec.initFrom, 'model.safetensors') : null;
  return file && existsSync(file) ? [readSafetensors(file).tensors] : [];
}
