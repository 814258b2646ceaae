/**
 * A progress line for long work: a redrawn bar on a TTY, a plain line every
 * few seconds otherwise (CI logs, pm2 files), so nobody stares at silence.
 */
export interface ProgressOptions {
  /** What is being done, e.g. "tokenize grimm/train.txt". */
  label: string;
  /** Total units (bytes, steps); 0 when unknown. */
  total: number;
  /** Formats the rate; default "<n>/s". */
  unit?: 'bytes' | 'items';
  /** Stream to write to; default process.stderr. */
  stream?: NodeJS.WriteStream;
  /** Seconds between plain lines when not a TTY; default 5. */
  plainEverySec?: number;
}

export class Progress {
  private readonly t0 = performance.now();
  private lastDraw = 0;
  private done = 0;
  private readonly stream: NodeJS.WriteStream;
  private readonly tty: boolean;

  constructor(private readonly opts: ProgressOptions) {
    this.stream = opts.stream ?? process.stderr;
    this.tty = Boolean(this.stream.isTTY) && !process.env.CI;
  }

  update(done: number, extra = ''): void {
    this.done = done;
    const now = performance.now();
    const every = this.tty ? 100 : (this.opts.plainEverySec ?? 5) * 1000;
    if (now - this.lastDraw < every) return;
    this.lastDraw = now;
    this.draw(extra, false);
  }

  finish(extra = ''): void {
    this.draw(extra, true);
  }

  private draw(extra: string, final: boolean): void {
    const sec = Math.max((performance.now() - this.t0) / 1000, 1e-9);
    const rate = this.done / sec;
    const rateText =
      this.opts.unit === 'bytes' ? `${(rate / 1e6).toFixed(2)} MB/s` : `${rate.toFixed(1)}/s`;
    const total = this.opts.total;
    const frac = total > 0 ? Math.min(this.done / total, 1) : 0;
    const eta = total > 0 && rate > 0 ? (total - this.done) / rate : NaN;
    const etaText = Number.isFinite(eta) && !final ? ` eta ${formatSeconds(eta)}` : ` ${formatSeconds(sec)}`;
    const head = `${this.opts.label} ${total > 0 ? `${(frac * 100).toFixed(1)}%` : this.done}`;
    if (this.tty) {
      const width = 24;
      const filled = Math.round(frac * width);
      const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
      this.stream.write(`\r${bar} ${head} ${rateText}${etaText} ${extra}\x1b[K${final ? '\n' : ''}`);
    } else {
      this.stream.write(`${head} ${rateText}${etaText} ${extra}\n`);
    }
  }
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${Math.round(s % 60)}s`;
  return `${Math.floor(m / 60)}h${m % 60}m`;
}
