import { fork, type ChildProcess } from 'node:child_process';
import type { Job } from '../spec/job-spec.ts';
import { PlanError } from '../spec/plan-stages.ts';
import type { RunSpec } from '../train/run-spec.ts';

export type PrepareRequest = { id: number; job: Job; worldSize: number; epochWorlds: readonly number[] };
export type PrepareReply =
  | { id: number; type: 'log'; line: string }
  | { id: number; type: 'done'; spec: RunSpec }
  | { id: number; type: 'failed'; message: string; planError: boolean };

const PREPARE_PROCESS = new URL('./prepare-process.ts', import.meta.url).pathname;

interface Pending {
  resolve: (s: RunSpec) => void;
  reject: (e: Error) => void;
  log: (line: string) => void;
}

/**
 * prepareRun in a child process (prepare-process.ts), started with the
 * coordinator and restarted if it dies: the coordinator's event loop stays
 * free for intake and events however large a corpus is.
 */
export class Preparer {
  private child: ChildProcess | null = null;
  private next = 1;
  private readonly pending = new Map<number, Pending>();

  /** Starts the process now, so the first run does not wait for it. */
  warm(): void {
    this.process();
  }

  prepare(job: Job, worldSize: number, log: (line: string) => void, epochWorlds: readonly number[] = [worldSize]): Promise<RunSpec> {
    const id = this.next++;
    return new Promise<RunSpec>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, log });
      this.process().send({ id, job, worldSize, epochWorlds } satisfies PrepareRequest);
    });
  }

  private process(): ChildProcess {
    if (this.child && this.child.connected) return this.child;
    const child = fork(PREPARE_PROCESS, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.on('message', (m: PrepareReply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      if (m.type === 'log') return p.log(m.line);
      this.pending.delete(m.id);
      if (m.type === 'done') p.resolve(m.spec);
      else p.reject(m.planError ? new PlanError(m.message) : new Error(m.message));
    });
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = null;
      for (const [id, p] of this.pending) {
        this.pending.delete(id);
        p.reject(new Error(`preparing the run: the preparing process died (${signal ?? `exit code ${code}`})`));
      }
    });
    this.child = child;
    return child;
  }

  close(): void {
    this.child?.kill();
    this.child = null;
  }
}
