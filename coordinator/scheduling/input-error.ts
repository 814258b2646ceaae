/** A caller's mistake (a malformed event or option): every problem, each with its field path. */
export class SchedulerInputError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'SchedulerInputError';
  }
}

/** A value as a problem line shows it: NaN and Infinity as themselves (JSON would say null), the rest as JSON. */
export const showValue = (v: unknown): string => (typeof v === 'number' ? String(v) : JSON.stringify(v));
