/** Plain Redis keys next to the queues, all under the deployment's prefix. */
export const serviceKeys = (prefix: string) => ({
  worker: (id: string) => `${prefix}:worker:${id}`,
  workerPattern: `${prefix}:worker:*`,
  /** Set by a cancel (any value); every rank of the run checks it each second. Lives 7 days. */
  cancel: (runId: string) => `${prefix}:cancel:${runId}`,
  /** Pub/sub channel: a cancel is published here too, so the coordinator hears it at once. */
  cancelChannel: `${prefix}:cancel-requests`,
  /** Set by the coordinator to pause an attempt at its next optimizer step (preemption, recovery, drain). */
  stop: (runId: string, attempt: number) => `${prefix}:stop:${runId}.a${attempt}`,
  /** Set by the coordinator when an attempt did not stop in time: its workers kill their rank processes. */
  kill: (runId: string, attempt: number) => `${prefix}:kill:${runId}.a${attempt}`,
  status: (runId: string) => `${prefix}:status:${runId}`,
  /** Pub/sub channel: every status hash write publishes the run id here (clients follow runs without polling). */
  statusChannel: `${prefix}:status-changes`,
  executions: (rankJobId: string) => `${prefix}:exec:${rankJobId}`,
  /** The run's current attempt: JSON { attempt, workers } (rank r on workers[r]). */
  attempt: (runId: string) => `${prefix}:attempt:${runId}`,
  /** Runs refused before training, counted by reason (a hash: reason → count; gradpool_intake_rejections_total). */
  intakeRejections: `${prefix}:intake-rejections`,
  /** Held by the coordinator that schedules (one per deployment; the others stand by). */
  leader: `${prefix}:coordinator-leader`,
});
