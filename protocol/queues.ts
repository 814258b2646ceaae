/**
 * The service's BullMQ queues. Producers add training jobs (named
 * JOB_NAME, in the envelope of job-envelope.ts) to JOBS_QUEUE; the
 * coordinator adds each rank job (RankJobData) to the queue of the worker
 * the scheduler placed it on: `rankQueue(workerId)`, one queue per worker,
 * so a gang lands on exactly the workers chosen for it.
 */
export const JOBS_QUEUE = 'gradpool-jobs';
export const JOB_NAME = 'train';
export const RANKS_QUEUE = 'gradpool-ranks';

/** The queue a worker takes its rank jobs from (BullMQ queue names may not hold ':'). */
export const rankQueue = (workerId: string) => `${RANKS_QUEUE}.${workerId.replace(/[^A-Za-z0-9._-]/g, '_')}`;

/** The BullMQ job id of rank `rank` of a run's attempt. */
export const rankJobId = (runId: string, attempt: number, rank: number) => `${runId}.a${attempt}.r${rank}`;
