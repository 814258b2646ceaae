import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StepReport } from './train-step.ts';

/** One line of logs/train.jsonl: `event` says which (plan, step, eval, resume, rollback, pause, end, failed, done). */
export interface LogRecord {
  time: string;
  event: string;
  [field: string]: unknown;
}

/** A `step` record: the StepReport as logged. */
export type StepRecord = LogRecord & StepReport & { event: 'step' };

/**
 * The run's current line from logs/train.jsonl. The log is append-only: a
 * resume (or a divergence rollback) writes a `resume` record naming the
 * global step of the checkpoint it continues from, and the steps and
 * evaluations logged after that step before the record were undone. This
 * drops them, so every step appears once, as it stands now.
 */
export function readCurrentLog(runDir: string): { steps: StepRecord[]; evals: LogRecord[]; resumes: LogRecord[]; records: LogRecord[] } {
  const path = join(runDir, 'logs', 'train.jsonl');
  const records: LogRecord[] = [];
  if (existsSync(path)) {
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      try {
        records.push(JSON.parse(line) as LogRecord);
      } catch {
        // The last line of a process killed mid-write: it never happened.
      }
    }
  }
  let steps: StepRecord[] = [];
  let evals: LogRecord[] = [];
  const resumes: LogRecord[] = [];
  for (const r of records) {
    if (r.event === 'step') steps.push(r as StepRecord);
    else if (r.event === 'eval') evals.push(r);
    else if (r.event === 'resume') {
      const from = Number(r.fromGlobalStep);
      steps = steps.filter((s) => s.globalStep <= from);
      evals = evals.filter((e) => Number(e.globalStep) <= from);
      resumes.push(r);
    }
  }
  return { steps, evals, resumes, records };
}
