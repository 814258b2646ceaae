import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { trainingFlopsPerToken } from '../model/model-flops.ts';
import type { RankJobData } from '../protocol/rank-job.ts';
import type { StepReport, StepTimings } from '../train/train-step.ts';

/**
 * The worker process's Prometheus registry: Node's process metrics and, per
 * run and rank, the figures of every optimizer step its rank process reports
 * (train/ emits a StepReport; this records it). Gauges hold the last step;
 * counters add up. A worker serves one rank at a time: when it starts
 * another run's rank, the previous run's gauges are dropped.
 *
 * MFU needs the device's peak: GRADPOOL_PEAK_TFLOPS (dense, for the dtype
 * trained, e.g. 989 for an H100 SXM in bf16); without it no MFU is exported.
 */
const PHASES: Array<keyof StepTimings> = ['data', 'forwardBackward', 'allReduce', 'optimizer', 'checkpoint'];
const PHASE_LABEL: Record<keyof StepTimings, string> = {
  data: 'data', forwardBackward: 'forward_backward', allReduce: 'all_reduce', optimizer: 'optimizer', checkpoint: 'checkpoint',
};

export class RankMetrics {
  readonly registry = new Registry();
  private readonly peakFlops: number | null;
  private current: { run: string; rank: string } | null = null;
  private flopsPerToken = new Map<number, number>();
  private worldSize = 1;
  private readonly steps;
  private readonly gauges;
  private readonly phaseLast;
  private readonly phaseTotal;
  private readonly ranksStarted;

  constructor(env: NodeJS.ProcessEnv = process.env) {
    collectDefaultMetrics({ register: this.registry });
    const peak = Number(env.GRADPOOL_PEAK_TFLOPS ?? '');
    this.peakFlops = Number.isFinite(peak) && peak > 0 ? peak * 1e12 : null;
    const r = [this.registry];
    const labels = ['run', 'rank'] as const;
    const gauge = (name: string, help: string) => new Gauge({ name: `gradpool_rank_${name}`, help, labelNames: labels, registers: r });
    this.steps = new Counter({ name: 'gradpool_rank_steps_total', help: 'Optimizer steps this rank has done (redone steps after a resume count again)', labelNames: labels, registers: r });
    this.gauges = {
      globalStep: gauge('global_step', 'Global optimizer step of the run (all stages), as of the last step'),
      stage: gauge('stage', 'Stage the run is in'),
      tokensPerSec: gauge('tokens_per_second', 'Real tokens of the global batch (all ranks) per second, over the last step'),
      samplesPerSec: gauge('samples_per_second', 'Sequences or labelled examples of the global batch per second, over the last step'),
      stepSeconds: gauge('step_seconds', 'Wall time of the last optimizer step'),
      loss: gauge('loss', 'Training loss of the last step (global batch mean)'),
      lr: gauge('learning_rate', 'Learning rate of the last step'),
      gradNorm: gauge('grad_norm', 'Global gradient norm of the last step, before clipping'),
      perplexity: gauge('eval_perplexity', 'Validation perplexity of the last MLM evaluation (rank 0)'),
      maskedAccuracy: gauge('eval_masked_accuracy', 'Validation masked-token accuracy of the last MLM evaluation (rank 0)'),
      evalLoss: gauge('eval_loss', 'Validation loss of the last evaluation (rank 0)'),
      mfu: gauge('mfu', 'Model FLOPs utilisation of this rank (torchtitan estimate / GRADPOOL_PEAK_TFLOPS)'),
      peakRss: gauge('peak_rss_bytes', 'Peak resident memory of the rank process (host memory; the engines report no device counter yet)'),
      restarts: gauge('restarts', 'Times the run was dispatched again (pause, gang retry, worker loss) before this attempt'),
    };
    this.phaseLast = new Gauge({ name: 'gradpool_rank_step_phase_seconds', help: 'The last step\'s wall time by phase', labelNames: ['run', 'rank', 'phase'], registers: r });
    this.phaseTotal = new Counter({ name: 'gradpool_rank_step_phase_seconds_total', help: 'Wall time of all steps by phase (rate() of it / rate(steps) = mean per step)', labelNames: ['run', 'rank', 'phase'], registers: r });
    this.ranksStarted = new Counter({ name: 'gradpool_worker_ranks_started_total', help: 'Rank jobs this worker started', registers: r });
  }

  /** A rank job starts on this worker. */
  startRank(job: RankJobData): void {
    const next = { run: job.runId, rank: String(job.rank) };
    if (this.current && this.current.run !== next.run) this.dropRun(this.current);
    this.current = next;
    this.worldSize = job.worldSize;
    this.flopsPerToken = new Map(job.spec.plans.map((p) => [p.stage, trainingFlopsPerToken(job.spec.modelConfig, p.seqLen)]));
    this.ranksStarted.inc();
    this.gauges.restarts.set(next, job.attempt - 1);
  }

  /** One optimizer step of the rank this worker serves. */
  recordStep(r: StepReport, peakRssBytes: number): void {
    const l = this.current;
    if (!l) return;
    const g = this.gauges;
    this.steps.inc(l);
    g.globalStep.set(l, r.globalStep);
    g.stage.set(l, r.stage);
    g.tokensPerSec.set(l, r.tokensPerSec);
    g.samplesPerSec.set(l, r.samplesPerSec);
    g.stepSeconds.set(l, r.seconds);
    if (Number.isFinite(r.loss)) g.loss.set(l, r.loss);
    g.lr.set(l, r.lr);
    if (Number.isFinite(r.gradNorm)) g.gradNorm.set(l, r.gradNorm);
    g.peakRss.set(l, peakRssBytes);
    for (const p of PHASES) {
      this.phaseLast.set({ ...l, phase: PHASE_LABEL[p] }, r.timings[p]);
      this.phaseTotal.inc({ ...l, phase: PHASE_LABEL[p] }, r.timings[p]);
    }
    const fpt = this.flopsPerToken.get(r.stage);
    if (this.peakFlops && fpt) g.mfu.set(l, ((r.tokensPerSec / this.worldSize) * fpt) / this.peakFlops);
    const e = r.eval;
    if (e) {
      if (Number.isFinite(e.loss)) g.evalLoss.set(l, e.loss);
      if (e.task === 'mlm') {
        if (Number.isFinite(e.perplexity)) g.perplexity.set(l, e.perplexity);
        if (Number.isFinite(e.masked_accuracy)) g.maskedAccuracy.set(l, e.masked_accuracy);
      }
    }
  }

  private dropRun(l: { run: string; rank: string }): void {
    for (const g of Object.values(this.gauges)) g.remove(l);
    for (const p of PHASES) this.phaseLast.remove({ ...l, phase: PHASE_LABEL[p] });
  }
}
