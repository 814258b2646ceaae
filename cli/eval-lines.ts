/**
 * How a run's evaluations read at the end of `gradpool train` / `submit
 * --follow`: perplexity for MLM, accuracy and macro-F1 for a classifier.
 * Takes the trainer's metrics or their JSON form (`task` tells them apart).
 */
type Eval = { task: string; perplexity?: number; masked_accuracy?: number; accuracy?: number; macro_f1?: number };

export function outcomeLines(first: Eval | null | undefined, last: Eval | null | undefined): string[] {
  const lines: string[] = [];
  if (first && first.task !== 'classification') lines.push(`validation perplexity before: ${first.perplexity!.toFixed(2)}`);
  if (last?.task === 'classification') {
    lines.push(`validation accuracy after:    ${pct(last.accuracy!)} (macro-F1 ${last.macro_f1!.toFixed(4)})`);
  } else if (last) {
    lines.push(`validation perplexity after:  ${last.perplexity!.toFixed(2)} (masked accuracy ${pct(last.masked_accuracy!)})`);
  }
  return lines;
}

/** A progress line's evaluation part. */
export function evalBrief(e: Eval): string {
  return e.task === 'classification' ? `eval accuracy ${pct(e.accuracy!)} macro-F1 ${e.macro_f1!.toFixed(4)}` : `eval ppl ${e.perplexity!.toFixed(2)}`;
}

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
