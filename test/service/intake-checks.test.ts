import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkJobData, JobRejected } from '../../coordinator/job-checks.ts';
import { attemptOutcome, type RankSettled } from '../../coordinator/run-outcome.ts';
import { encodeJobEnvelope } from '../../protocol/job-envelope.ts';
import type { RankResult } from '../../protocol/rank-job.ts';
import { testJob } from '../helpers/test-job.ts';
import { scratchDir } from '../helpers/torch-reference.ts';

// Intake's checks and the reading of an attempt's end, without Redis: the pieces the service tests drive.

function rejected(data: unknown, o = { resumingAttempt: false }): string[] {
  try {
    checkJobData(data, o);
  } catch (e) {
    if (e instanceof JobRejected) return e.problems;
    throw e;
  }
  return [];
}

test('intake: every missing or unreadable path, the world sizes and the run folder, each with its payload path', () => {
  const dir = scratchDir('intake');
  const job = testJob(dir, { name: 'paths' });
  const raw = {
    ...job,
    corpus: { ...job.corpus, train: [`${dir}/a.txt`, dir], valid: [`${dir}/v.txt`] },
    tokenizer: { path: `${dir}/no-tokenizer` },
    world_size: 3,
  };
  const problems = rejected(encodeJobEnvelope(raw));
  assert.deepEqual(problems.slice(0, 4), [
    `payload.corpus.train[0]: ${dir}/a.txt does not exist`,
    `payload.corpus.train[1]: ${dir} is a folder; give the files in it`,
    `payload.corpus.valid[0]: ${dir}/v.txt does not exist`,
    `payload.tokenizer.path: ${dir}/no-tokenizer does not exist`,
  ]);
  assert.match(problems[4]!, /^payload\.world_size, min_world_size: no world size in \[3, 3\] divides every stage's global_batch/);
  assert.equal(problems.length, 5);
  // A valid job passes; once its folder holds a run, only resume (or the run's own recorded attempt) may use it.
  assert.deepEqual(rejected(encodeJobEnvelope(job)), []);
  mkdirSync(join(job.output_dir, 'paths', 'checkpoints'), { recursive: true });
  writeFileSync(join(job.output_dir, 'paths', 'checkpoints', 'last.pth'), '');
  assert.match(rejected(encodeJobEnvelope(job))[0]!, /^payload\.name: .*paths already holds a run: submit with resume: true/);
  assert.deepEqual(rejected(encodeJobEnvelope({ ...job, resume: true })), []);
  assert.deepEqual(rejected(encodeJobEnvelope(job), { resumingAttempt: true }), []);
});

test("an attempt's end: the job's own error fails it, a lost rank is a crash, a stop before the gang formed is a pause", () => {
  const result = (finished: boolean): RankSettled => ({ ok: true, result: { finished, stopReason: finished ? 'all stages done' : 'stop requested' } as RankResult });
  const fail = (reason: string): RankSettled => ({ ok: false, reason });
  const of = (...s: RankSettled[]) => new Map(s.map((x, i) => [i, x]));
  const quiet = { stopRequested: false, cancelled: false };
  assert.equal(attemptOutcome(of(result(true), result(true)), quiet).outcome, 'completed');
  assert.equal(attemptOutcome(of(result(false), result(false)), quiet).outcome, 'paused');
  assert.equal(attemptOutcome(of(result(false), result(false)), { stopRequested: true, cancelled: true }).outcome, 'cancelled');
  const killed = attemptOutcome(of(fail('CollectiveError: rank 1 (pid 7) died during allReduce'), fail('rank lost: worker w1 lost (no heartbeat for 5000 ms)')), quiet);
  assert.deepEqual([killed.outcome, killed.reason], ['crashed', 'rank 0: CollectiveError: rank 1 (pid 7) died during allReduce']);
  const own = attemptOutcome(of(fail('stage 0 step 3: the run diverged: loss nan'), fail('CollectiveError: peer gone')), quiet);
  assert.deepEqual([own.outcome, own.reason], ['failed', 'rank 0: stage 0 step 3: the run diverged: loss nan']);
  assert.equal(attemptOutcome(of(fail('gang start: rendezvous timed out'), fail('removed before a worker took it')), { stopRequested: true, cancelled: false }).outcome, 'paused');
  assert.equal(attemptOutcome(of(fail('gang start: rendezvous timed out'), result(false)), quiet).outcome, 'crashed');
});
