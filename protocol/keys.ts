/** Plain Redis keys next to the queues, all under the deployment's prefix. */
export const serviceKeys = (prefix: string) => ({
  worker: (id: string) => `${prefix}:worker:${id}`,
  workerPattern: `${prefix}:worker:*`,
  cancel: (runId: string) => `${prefix}:cancel:${runId}`,
  status: (runId: string) => `${prefix}:status:${runId}`,
  executions: (rankJobId: string) => `${prefix}:exec:${rankJobId}`,
  attempt: (runId: string) => `${prefix}:attempt:${runId}`,
});
