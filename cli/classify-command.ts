import { encodeExample } from '../data/encode-example.ts';
import { readLabelled } from '../data/labelled-readers.ts';
import { createEngine } from '../engine/create-engine.ts';
import type { Engine } from '../engine/engine.ts';
import { classificationMetrics, type ClassificationMetrics } from '../train/metrics/classification-metrics.ts';
import { loadInferenceModel, type InferenceModel } from './inference-model.ts';

/**
 * `gradpool classify`: a run's classifier (or a Hugging Face classifier
 * folder) on texts: the label and every label's probability, encoded as the
 * stage encoded its training examples ([CLS] a [SEP] (b [SEP]) at its
 * seq_len). A file is scored row by row; rows that carry a known label also
 * give accuracy, macro-F1 and the rest (the evaluation's metrics).
 */
export interface Prediction {
  label: string;
  probabilities: Record<string, number>;
}
export interface RowPrediction extends Prediction {
  line: number;
  /** The row's own label, when it has one. */
  true_label?: string;
}

export interface ClassifyOptions {
  checkpoint: 'best' | 'last';
  engine?: string;
  /** Fields of an --input file; default the stage's (text_field, text_pair_field, label_field). */
  textField?: string;
  pairField?: string;
  labelField?: string;
}

const BATCH = 16;

export async function classifyTexts(source: string, texts: Array<{ text: string; pair?: string }>, o: ClassifyOptions): Promise<Prediction[]> {
  return withClassifier(source, o, (m, engine) => score(m, engine, texts));
}

export async function classifyFile(
  source: string,
  file: string,
  o: ClassifyOptions,
): Promise<{ predictions: RowPrediction[]; metrics: ClassificationMetrics | null; skipped: Record<string, number> }> {
  return withClassifier(source, o, async (m, engine) => {
    const f = fieldsOf(m, o);
    const rows: Array<{ text: string; pair: string; label: string; line: number }> = [];
    const skipped: Record<string, number> = {};
    const read = { ...f, maxChars: Number.MAX_SAFE_INTEGER, labelOptional: true, where: `classify --input ${file}` };
    for await (const r of readLabelled(file, read)) {
      if ('bad' in r) skipped[r.bad] = (skipped[r.bad] ?? 0) + 1;
      else rows.push(r);
    }
    const preds = await score(m, engine, rows);
    const predictions = preds.map((p, i) => ({ line: rows[i]!.line, ...p, ...(rows[i]!.label ? { true_label: rows[i]!.label } : {}) }));
    return { predictions, metrics: metricsOf(m.labels!, predictions), skipped };
  });
}

async function withClassifier<T>(source: string, o: ClassifyOptions, fn: (m: InferenceModel, engine: Engine) => Promise<T>): Promise<T> {
  const m = loadInferenceModel(source, o.checkpoint);
  if (m.head.kind !== 'classification' || !m.labels) throw new Error(`${source}: not a sequence classifier (no classification stage's model in it)`);
  const engine = await createEngine(o.engine ?? 'auto', { config: m.config, head: m.head, weights: m.weights, weightsSource: source, seed: 0 });
  try {
    return await fn(m, engine);
  } finally {
    engine.dispose();
  }
}

function fieldsOf(m: InferenceModel, o: ClassifyOptions) {
  const labels = m.stage ? m.stage.run.job.stages[m.stage.index]!.labels! : null;
  return {
    textField: o.textField ?? labels?.text_field ?? 'text',
    pairField: o.pairField ?? labels?.text_pair_field ?? '',
    labelField: o.labelField ?? labels?.label_field ?? 'label',
  };
}

async function score(m: InferenceModel, engine: Engine, texts: Array<{ text: string; pair?: string }>): Promise<Prediction[]> {
  const seqLen = m.stage ? m.stage.run.job.stages[m.stage.index]!.seq_len : m.config.max_position_embeddings;
  const out: Prediction[] = [];
  for (let start = 0; start < texts.length; start += BATCH) {
    const chunk = texts.slice(start, start + BATCH).map((t) => encodeExample(m.tokenizer, t.text, t.pair ?? '', seqLen));
    const n = chunk.length;
    const batch = { batchSize: n, seqLen, inputIds: new Int32Array(n * seqLen), tokenTypeIds: new Int32Array(n * seqLen), attentionMask: new Int32Array(n * seqLen) };
    chunk.forEach((e, i) => {
      batch.inputIds.set(e.ids, i * seqLen);
      batch.tokenTypeIds.set(e.tokenTypes, i * seqLen);
      batch.attentionMask.fill(1, i * seqLen, i * seqLen + e.length);
    });
    const { logits } = await engine.classify(batch);
    for (let i = 0; i < n; i++) out.push(prediction(m.labels!, logits.subarray(i * m.labels!.length, (i + 1) * m.labels!.length)));
  }
  return out;
}

/** Softmax in float64; the label is the most probable. */
function prediction(labels: string[], logits: Float32Array): Prediction {
  const max = Math.max(...logits);
  const e = Array.from(logits, (z) => Math.exp(z - max));
  const sum = e.reduce((a, b) => a + b, 0);
  const probs = e.map((x) => x / sum);
  const best = probs.indexOf(Math.max(...probs));
  return { label: labels[best]!, probabilities: Object.fromEntries(labels.map((l, i) => [l, probs[i]!])) };
}

/** The evaluation's metrics over the rows whose label the classifier knows (loss: plain cross-entropy); null when there are none. */
function metricsOf(labels: string[], preds: RowPrediction[]): ClassificationMetrics | null {
  const counts = labels.map(() => new Array<number>(labels.length).fill(0));
  let n = 0;
  let lossSum = 0;
  for (const p of preds) {
    const t = p.true_label === undefined ? -1 : labels.indexOf(p.true_label);
    if (t < 0) continue;
    counts[t]![labels.indexOf(p.label)]!++;
    lossSum -= Math.log(p.probabilities[p.true_label!]!);
    n++;
  }
  return n ? classificationMetrics(labels, counts, lossSum / n) : null;
}
