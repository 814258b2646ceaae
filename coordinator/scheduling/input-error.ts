/** A caller's mistake (a malformed event or option): every problem, each with its field path. */
export class SchedulerInputError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'SchedulerInputError';
  }
}
