/**
 * The service's two BullMQ queues. Producers add training jobs (named
 * JOB_NAME, in the envelope of job-envelope.ts) to JOBS_QUEUE; the
 * coordinator adds one rank job per worker (RankJobData) to RANKS_QUEUE.
 */
export const JOBS_QUEUE = 'gradpool-jobs';
export const JOB_NAME = 'train';
export const RANKS_QUEUE = 'gradpool-ranks';
