import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { formatSeconds } from '../common/progress.ts';

/**
 * The run's voice: structured JSON lines in logs/train.jsonl (one object
 * per event, for machines), and for people a redrawn progress line on a TTY
 * or plain lines otherwise (CI, pm2 log files).
 */
export class RunLogger {
  private readonly file: string | null;
  private readonly tty: boolean;
  private progressShown = false;

  constructor(logDir: string | null, private readonly out: NodeJS.WriteStream = process.stderr) {
    if (logDir) mkdirSync(logDir, { recursive: true });
    this.file = logDir ? join(logDir, 'train.jsonl') : null;
    this.tty = Boolean(out.isTTY) && !process.env.CI;
  }

  /** A structured event; `text` (if given) is also shown to people. */
  event(event: string, fields: Record<string, unknown>, text?: string): void {
    if (this.file) appendFileSync(this.file, `${JSON.stringify({ time: new Date().toISOString(), event, ...fields })}\n`);
    if (text !== undefined) this.say(text);
  }

  say(text: string): void {
    if (this.progressShown) {
      this.out.write('\r\x1b[K');
      this.progressShown = false;
    }
    this.out.write(`${text}\n`);
  }

  /** Step progress: a bar on a TTY; a line per call otherwise (callers call it every log_interval). */
  progress(p: { stage: number; step: number; maxSteps: number; loss: number; lr: number; tokensPerSec: number; etaSec: number }): void {
    const frac = p.step / p.maxSteps;
    const text =
      `stage ${p.stage} step ${p.step}/${p.maxSteps} loss ${p.loss.toFixed(4)} lr ${p.lr.toExponential(2)} ` +
      `${Math.round(p.tokensPerSec)} tok/s eta ${formatSeconds(p.etaSec)}`;
    if (this.tty) {
      const bar = `[${'#'.repeat(Math.round(frac * 20)).padEnd(20, '.')}]`;
      this.out.write(`\r${bar} ${text}\x1b[K`);
      this.progressShown = true;
    } else {
      this.out.write(`${text}\n`);
    }
  }
}
