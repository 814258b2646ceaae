import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { decodeJobEnvelope, type ServiceFields } from '../protocol/job-envelope.ts';
import { runPaths } from '../train/run-spec.ts';
import { JobSpecError } from '../spec/validate-job.ts';
import type { Job } from '../spec/job-spec.ts';
import { allowedWorldSizes, SchedulerInputError } from './scheduling/index.ts';

/**
 * Everything intake checks before a job may wait for workers, in one path
 * form (`payload.corpus.train[0]: /data/x.txt does not exist`): the envelope,
 * the schema, validateJob, then every file and folder the job names (exists,
 * is what it should be, is readable) and the run-folder rule. Cheap: stat
 * calls only, so a bad job fails within the second it was added, however
 * busy the pool is.
 */
/** Why the intake refused a job, as gradpool_intake_rejections_total labels it. */
export type RejectionReason = 'invalid_job' | 'plan' | 'run_folder_exists';

export class JobRejected extends Error {
  /** `reason`: the first check that found a problem (envelope, schema, fields and paths; world sizes; run folder). */
  constructor(readonly problems: string[], readonly reason: RejectionReason = 'invalid_job') {
    super(`invalid job\n  ${problems.join('\n  ')}`);
  }
}

export interface CheckedJob {
  job: Job;
  service: ServiceFields;
}

/** Decodes and checks a queued job's data; throws JobRejected with every problem. */
export function checkJobData(data: unknown, o: { resumingAttempt: boolean }): CheckedJob {
  let decoded: CheckedJob;
  try {
    decoded = decodeJobEnvelope(data);
  } catch (e) {
    if (!(e instanceof JobSpecError)) throw e;
    throw new JobRejected(e.source === 'payload' ? e.problems.map(inPayload) : e.problems);
  }
  const problems = pathProblems(decoded.job);
  let reason: RejectionReason | null = problems.length ? 'invalid_job' : null;
  const { world_size, min_world_size } = decoded.service;
  try {
    allowedWorldSizes(decoded.job.stages, min_world_size || world_size || 1, world_size || Infinity);
  } catch (e) {
    if (!(e instanceof SchedulerInputError)) throw e;
    problems.push(...e.problems.map(inPayload));
    reason ??= 'plan';
  }
  const runDir = join(decoded.job.output_dir, decoded.job.name);
  // A run folder holding a run is continued only when asked (or when this run's own attempt left it).
  if (!decoded.service.resume && !o.resumingAttempt && existsSync(runPaths(runDir).last)) {
    problems.push(`payload.name: ${runDir} already holds a run: submit with resume: true, or choose another name`);
    reason ??= 'run_folder_exists';
  }
  if (problems.length) throw new JobRejected(problems, reason ?? 'invalid_job');
  return decoded;
}

/** validateJob's paths are relative to the job; on the queue they are relative to the payload. */
const inPayload = (p: string) => (p.startsWith('payload') ? p : `payload.${p}`);

function pathProblems(job: Job): string[] {
  const problems: string[] = [];
  const file = (path: string, at: string) => {
    const why = unreadable(path, 'file');
    if (why) problems.push(`payload.${at}: ${path} ${why}`);
  };
  job.corpus.train.forEach((f, i) => file(f, `corpus.train[${i}]`));
  job.corpus.valid.forEach((f, i) => file(f, `corpus.valid[${i}]`));
  if (job.model.init_from) {
    const dir = job.model.init_from;
    const config = join(dir, 'config.json');
    const why = unreadable(dir, 'folder');
    if (why) problems.push(`payload.model.init_from: ${dir} ${why}`);
    else file(config, 'model.init_from');
  }
  if (job.model.config_file) file(job.model.config_file, 'model.config_file');
  // The tokenizer defaults to init_from's folder, checked above.
  if (job.tokenizer.path && job.tokenizer.path !== job.model.init_from) {
    const why = unreadable(job.tokenizer.path, 'any');
    if (why) problems.push(`payload.tokenizer.path: ${job.tokenizer.path} ${why}`);
  }
  return problems;
}

/** Why a path cannot be read as a `kind`, or null when it can. */
function unreadable(path: string, kind: 'file' | 'folder' | 'any'): string | null {
  try {
    const st = statSync(path);
    if (kind === 'file' && !st.isFile()) return st.isDirectory() ? 'is a folder; give the files in it' : 'is not a file';
    if (kind === 'folder' && !st.isDirectory()) return 'is not a folder';
    accessSync(path, constants.R_OK);
    return null;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable' : (e as Error).message;
  }
}
