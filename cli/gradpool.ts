import { flagString, parseArgs } from './args.ts';
import { outcomeLines } from './eval-lines.ts';
import { fillMask } from './fill-mask-command.ts';
import { classifyCommand } from './classify-output.ts';
import { trainCommand } from './train-command.ts';
import { coordinatorCommand, localClusterTrain, submitCommand, workerCommand } from './service-commands.ts';
import { GradpoolClient } from '../coordinator/gradpool-client.ts';
import { loadJobFile } from '../spec/validate-job.ts';
import { prepareRun } from '../train/prepare-run.ts';
import { formatPlan } from '../spec/plan-stages.ts';

const USAGE = `gradpool — BERT masked-language-model training and sequence classification

  gradpool train <job.yaml> [--engine auto|torch|wasm|cpu|tensorflow] [--name RUN] [--steps N]
  gradpool train --resume <runs/name> [--steps N]
  gradpool train <job.yaml> --workers N         the service path on this machine: coordinator + N workers
  gradpool plan <job.yaml> [--world N]          print each stage's plan and exit
  gradpool submit <job.yaml> [--follow] [--world N] [--min-world N] [--priority P] [--no-preempt] [--max-restarts N] [--resume] [--id ID]
  gradpool status <id> | cancel <id> | runs
  gradpool coordinator                          serve the jobs queue (GRADPOOL_REDIS_URL, GRADPOOL_PREFIX), and the
                                                dashboard, /metrics, /healthz on 127.0.0.1:9464 (GRADPOOL_METRICS_PORT,
                                                GRADPOOL_METRICS_HOST, GRADPOOL_DASHBOARD_TOKEN)
  gradpool worker [--gpu N]                     serve one rank at a time on the ranks queue; /metrics on 9465 + GRADPOOL_WORKER_INDEX
  gradpool fill-mask <run or HF folder> "text with [MASK]" [--top-k 5] [--checkpoint best|last] [--json]   (RoBERTa/ModernBERT BPE tokenizers: <mask>, or [MASK])
  gradpool classify <run or HF folder> "text" ["second text"] [--checkpoint best|last] [--json]
  gradpool classify <run or HF folder> --input file.csv|.tsv|.jsonl [--json] [--text-field F] [--pair-field F] [--label-field F]
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const a = parseArgs(rest, [
    'engine', 'steps', 'world', 'top-k', 'checkpoint', 'resume', 'name', 'workers', 'priority', 'id', 'gpu', 'min-world', 'max-restarts',
    'input', 'text-field', 'pair-field', 'label-field',
  ]);
  switch (command) {
    case 'train': {
      const resume = a.flags.get('resume');
      const target = typeof resume === 'string' ? resume : a.positional[0];
      if (!target) throw new Error(`train: give a job file, or --resume <run folder>\n\n${USAGE}`);
      const workers = flagString(a, 'workers');
      if (workers !== undefined) {
        return localClusterTrain(target, Number(workers), { engine: flagString(a, 'engine'), name: flagString(a, 'name') });
      }
      const steps = flagString(a, 'steps');
      const { spec, result } = await trainCommand({
        target,
        resume: resume !== undefined,
        engine: flagString(a, 'engine'),
        name: flagString(a, 'name'),
        maxStepsThisRun: steps ? Number(steps) : undefined,
      });
      for (const line of outcomeLines(result.firstEval, result.lastEval)) console.log(line);
      console.log(`run folder: ${spec.runDir} (${result.state.finished ? result.state.stopReason : 'paused: resume with --resume'})`);
      return 0;
    }
    case 'plan': {
      const path = a.positional[0];
      if (!path) throw new Error(`plan: give a job file\n\n${USAGE}`);
      const spec = await prepareRun(loadJobFile(path), Number(flagString(a, 'world') ?? 1));
      for (const p of spec.plans) console.log(formatPlan(p, spec.job.engine));
      return 0;
    }
    case 'submit': {
      const path = a.positional[0];
      if (!path) throw new Error(`submit: give a job file\n\n${USAGE}`);
      return submitCommand(path, {
        follow: a.flags.has('follow'),
        worldSize: Number(flagString(a, 'world') ?? 0),
        priority: Number(flagString(a, 'priority') ?? 0),
        resume: a.flags.has('resume'),
        id: flagString(a, 'id'),
        service: {
          ...(flagString(a, 'min-world') ? { min_world_size: Number(flagString(a, 'min-world')) } : {}),
          ...(a.flags.has('no-preempt') ? { preemptible: false } : {}),
          ...(flagString(a, 'max-restarts') ? { max_restarts: Number(flagString(a, 'max-restarts')) } : {}),
        },
      });
    }
    case 'status':
    case 'cancel':
    case 'runs': {
      const client = new GradpoolClient();
      try {
        if (command === 'runs') {
          for (const r of await client.runs()) console.log(`${r.id}\t${r.state}\t${new Date(r.createdAtMs).toISOString()}\t${r.message}`);
          return 0;
        }
        const id = a.positional[0];
        if (!id) throw new Error(`${command}: give a run id`);
        if (command === 'cancel') {
          await client.cancel(id);
          console.log(`cancel requested for ${id}`);
        } else console.log(JSON.stringify(await client.status(id), null, 2));
        return 0;
      } finally {
        await client.close();
      }
    }
    case 'coordinator':
      return coordinatorCommand();
    case 'worker':
      return workerCommand(flagString(a, 'gpu') !== undefined ? Number(flagString(a, 'gpu')) : null);
    case 'fill-mask': {
      const [source, text] = a.positional;
      if (!source || !text) throw new Error(`fill-mask: give a folder and a text\n\n${USAGE}`);
      const topK = Number(flagString(a, 'top-k') ?? 5);
      const which = (flagString(a, 'checkpoint') ?? 'best') as 'best' | 'last';
      if (which !== 'best' && which !== 'last') throw new Error('--checkpoint must be best or last');
      const preds = await fillMask(source, text, { topK, checkpoint: which, engine: flagString(a, 'engine') });
      if (a.flags.has('json')) console.log(JSON.stringify(preds, null, 2));
      else {
        for (const p of preds) console.log(`[MASK] #${p.mask + 1}  ${p.token.padEnd(16)} ${(p.score * 100).toFixed(2).padStart(6)}%  ${p.sequence}`);
      }
      return 0;
    }
    case 'classify':
      return classifyCommand(a);
    case undefined:
    case 'help':
    case '--help':
      console.log(USAGE);
      return 0;
    default:
      throw new Error(`unknown command ${command}\n\n${USAGE}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: Error) => {
    process.stderr.write(`gradpool: ${e.message}\n`);
    process.exit(1);
  },
);
