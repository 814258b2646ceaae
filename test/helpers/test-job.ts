import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readCurrentLog } from '../../train/step-log.ts';
import { validateJob } from '../../spec/validate-job.ts';
import type { Job } from '../../spec/job-spec.ts';

const root = new URL('../../', import.meta.url).pathname;

/** A small, fast job on the bundled corpus with a tiny BERT and bert-base-uncased's vocabulary. */
export function testJob(dir: string, over: Record<string, unknown> = {}, stage: Record<string, unknown> = {}): Job {
  mkdirSync(dir, { recursive: true });
  const raw = {
    name: 'test-run',
    output_dir: join(dir, 'runs'),
    seed: 7,
    engine: 'wasm',
    corpus: {
      train: join(root, 'examples/corpus/grimm/valid.txt'),
      valid: join(root, 'examples/corpus/grimm/test.txt'),
      cache_dir: join(dir, 'cache'),
    },
    tokenizer: join(root, 'test/fixtures/bert-base-uncased'),
    model: {
      config: {
        hidden_size: 32,
        num_hidden_layers: 2,
        num_attention_heads: 2,
        intermediate_size: 64,
        max_position_embeddings: 64,
      },
    },
    stages: [
      {
        seq_len: 32,
        micro_batch: 4,
        global_batch: 16,
        max_steps: 6,
        warmup_steps: 2,
        learning_rate: 2e-3,
        eval_interval: 3,
        max_eval_samples: 16,
        log_interval: 1,
        ...stage,
      },
    ],
    keep_last: 1,
    ...over,
  };
  writeFileSync(join(dir, 'job.json'), JSON.stringify(raw, null, 2));
  return validateJob(raw, join(dir, 'job.json'));
}

/** The training loss of every step of a run, as it stands (rank 0's logs/train.jsonl, redone steps once). */
export function stepLosses(runDir: string): number[] {
  return readCurrentLog(runDir).steps.map((l) => l.loss);
}
