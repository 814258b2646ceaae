import { flagString, type Args } from './args.ts';
import { classifyFile, classifyTexts, type ClassifyOptions, type Prediction } from './classify-command.ts';
import { confusionTable } from '../train/metrics/eval-metrics.ts';

/** `gradpool classify …`: the arguments in, the predictions out (a table, or JSON with --json). */
export async function classifyCommand(a: Args): Promise<number> {
  const [source, text, pair] = a.positional;
  const input = flagString(a, 'input');
  if (!source || (!text && !input)) throw new Error('classify: give a run (or HF) folder and a text, or --input file');
  const which = (flagString(a, 'checkpoint') ?? 'best') as 'best' | 'last';
  if (which !== 'best' && which !== 'last') throw new Error('--checkpoint must be best or last');
  const o: ClassifyOptions = {
    checkpoint: which,
    engine: flagString(a, 'engine'),
    textField: flagString(a, 'text-field'),
    pairField: flagString(a, 'pair-field'),
    labelField: flagString(a, 'label-field'),
  };
  const json = a.flags.has('json');
  if (!input) {
    const [p] = await classifyTexts(source, [{ text: text!, pair }], o);
    console.log(json ? JSON.stringify(p, null, 2) : describe(p!));
    return 0;
  }
  const r = await classifyFile(source, input, o);
  if (json) {
    console.log(JSON.stringify(r, null, 2));
    return 0;
  }
  for (const p of r.predictions) console.log(`line ${p.line}: ${p.label} ${pct(p.probabilities[p.label]!)}${p.true_label ? ` (labelled ${p.true_label})` : ''}`);
  const skipped = Object.entries(r.skipped).map(([k, n]) => `${k} ${n}`).join(', ');
  console.log(`${r.predictions.length} rows scored${skipped ? `; skipped ${skipped}` : ''}`);
  if (r.metrics) console.log(`on ${r.metrics.examples} labelled rows: accuracy ${pct(r.metrics.accuracy)}, macro-F1 ${r.metrics.macro_f1.toFixed(4)}\n${confusionTable(r.metrics)}`);
  return 0;
}

function describe(p: Prediction): string {
  const rows = Object.entries(p.probabilities)
    .sort((x, y) => y[1] - x[1])
    .map(([l, q]) => `  ${l.padEnd(24)} ${pct(q).padStart(8)}`);
  return [`${p.label}`, ...rows].join('\n');
}

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
