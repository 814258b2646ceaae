/** Plain Redis keys next to the queues, all under the deployment's prefix. */
export const serviceKeys = (prefix: string) => ({
  worker: (id: string) => `${prefix}:worker:${id}`,
  workerPattern: `${prefix}:worker:*`,
  /** Set by a cancel (any value); a rank checks it when it starts. Lives 7 days. */
  cancel: (runId: string) => `${prefix}:cancel:${runId}`,
  /** Pub/sub channel: a cancel publishes the run id here too, so the coordinator and the run's workers hear it at once. */
  cancelChannel: `${prefix}:cancel-requests`,
  /** Set by the coordinator to pause an attempt at its next optimizer step (preemption, recovery, drain). */
  stop: (runId: string, attempt: number) => `${prefix}:stop:${runId}.a${attempt}`,
  /** Set by the coordinator when an attempt did not stop in time: its workers kill their rank processes. */
  kill: (runId: string, attempt: number) => `${prefix}:kill:${runId}.a${attempt}`,
  /**
   * Pub/sub channel: after setting a stop or kill key the coordinator publishes
   * a RankControl here, so the attempt's workers act at once; a worker reads the
   * keys themselves when a rank starts and when its subscription reconnects.
   */
  rankControl: `${prefix}:rank-control`,
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

/** A message on `rankControl`. */
export interface RankControl {
  runId: string;
  attempt: number;
  action: 'stop' | 'kill';
}
