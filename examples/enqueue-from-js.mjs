// Enqueue a gradpool training job from another Node service and follow it,
// with nothing of gradpool's code: the `bullmq`, `ioredis` and `protobufjs`
// packages and proto/gradpool.proto (proto/README.md is the contract).
//
//   npm install bullmq ioredis protobufjs
//   node examples/enqueue-from-js.mjs            # binary encoding (protobuf bytes, base64)
//   node examples/enqueue-from-js.mjs --json     # JSON encoding: the proto3 JSON mapping
//   GRADPOOL_REDIS_URL=redis://redis:6379 GRADPOOL_PREFIX=gradpool node examples/enqueue-from-js.mjs
//
// test/protocol/js-producer.test.ts decodes the envelopes this file builds.
import { randomUUID } from 'node:crypto';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import protobuf from 'protobufjs';

const PROTO = fileURLToPath(new URL('../proto/gradpool.proto', import.meta.url));
const SCHEMA = 'gradpool.v1.TrainingJob';

/** A TrainingJob in its JSON form: the .proto's snake_case names; unset = default. */
export function trainingJob(name) {
  return {
    name, // the run folder is <output_dir>/<name>: unique per run
    output_dir: '/shared/runs', // absolute paths, as the coordinator and workers see them
    corpus: { train: ['/shared/data/abstracts.jsonl'], valid_ratio: 0.05, field: 'text' },
    tokenizer: { path: '/shared/models/bert-base-uncased' },
    // A model trained from scratch: config.json fields, a google.protobuf.Struct.
    model: { config: { hidden_size: 256, num_hidden_layers: 4, num_attention_heads: 4, intermediate_size: 1024 } },
    stages: [{ seq_len: 128, micro_batch: 8, global_batch: 64, max_steps: 2000, warmup_steps: 100, learning_rate: 5e-4 }],
    world_size: 4, // ranks
    min_world_size: 2, // elastic: may start or go on with 2 (same global batch, same training)
    priority: 1, // 1 first; 0 = none
    preemptible: true,
  };
}

/**
 * A plain object as a google.protobuf.Struct message. protobufjs has no
 * wrapper for Struct: given a plain object it writes an *empty* Struct
 * (which the coordinator refuses, rather than train the default config).
 */
export function toStruct(obj) {
  return { fields: Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, toValue(v)])) };
}

function toValue(v) {
  if (v === null) return { nullValue: 0 };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(toValue) } };
  return { structValue: toStruct(v) };
}

/** The queue's envelope: { schema, encoding, payload }. */
export async function envelope(job, encoding = 'binary') {
  if (encoding === 'json') return { schema: SCHEMA, encoding, payload: job };
  // keepCase: the .proto's snake_case names (protobufjs would camelCase them, and fromObject would drop ours).
  const TrainingJob = await new protobuf.Root().load(PROTO, { keepCase: true }).then((root) => root.lookupType(SCHEMA));
  const message = { ...job, model: job.model?.config ? { ...job.model, config: toStruct(job.model.config) } : job.model };
  const problem = TrainingJob.verify(message);
  if (problem) throw new Error(`TrainingJob: ${problem}`);
  const bytes = TrainingJob.encode(TrainingJob.fromObject(message)).finish();
  return { schema: SCHEMA, encoding, payload: Buffer.from(bytes).toString('base64') };
}

async function main() {
  const redisUrl = process.env.GRADPOOL_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const prefix = process.env.GRADPOOL_PREFIX ?? 'gradpool'; // BullMQ's default "bull" would miss the coordinator
  const connection = { url: redisUrl, maxRetriesPerRequest: null };
  const queue = new Queue('gradpool-jobs', { connection, prefix });
  const events = new QueueEvents('gradpool-jobs', { connection, prefix });
  const statusReader = new Redis(redisUrl);
  const subscriber = new Redis(redisUrl);
  const runId = `pubmed-mlm-${randomUUID().slice(0, 8)}`; // our job id: status, cancel and results use it
  const job = trainingJob(runId);
  // BullMQ ignores an add whose id it holds (and returns the old job): an id is used once.
  if (await queue.getJob(runId)) throw new Error(`job id ${runId} is already used`);
  const settled = new Promise((resolve) => {
    events.on('completed', ({ jobId, returnvalue }) => jobId === runId && resolve({ ok: true, result: typeof returnvalue === 'string' ? JSON.parse(returnvalue) : returnvalue }));
    events.on('failed', ({ jobId, failedReason }) => jobId === runId && resolve({ ok: false, reason: failedReason }));
  });
  events.on('progress', ({ jobId, data }) => {
    if (jobId !== runId) return;
    const p = typeof data === 'string' ? JSON.parse(data) : data;
    console.log(`stage ${p.stage} step ${p.step}/${p.max_steps} loss ${p.loss.toFixed(4)} on ${p.world_size} rank(s)${p.eval ? ` eval loss ${p.eval.loss.toFixed(4)}` : ''}`);
  });
  // Status changes: the coordinator publishes the job id on <prefix>:status-changes after each write of the hash.
  await subscriber.subscribe(`${prefix}:status-changes`);
  subscriber.on('message', async (_channel, id) => {
    if (id !== runId) return;
    const s = await statusReader.hgetall(`${prefix}:status:${runId}`);
    if (s.state !== 'RUNNING') console.log(`${s.state}${s.queue_position && s.queue_position !== '0' ? ` (position ${s.queue_position}: ${s.queue_reason})` : ''}: ${s.message}`);
  });
  await events.waitUntilReady();
  const encoding = process.argv.includes('--json') ? 'json' : 'binary';
  await queue.add('train', await envelope(job, encoding), {
    jobId: runId,
    priority: job.priority,
    attempts: 3,
    backoff: { type: 'fixed', delay: 5000 },
  });
  console.log('submitted', runId, `(${encoding})`);
  const end = await settled;
  if (end.ok) console.log('done:', end.result.run_dir, end.result.stop_reason, 'last checkpoint', end.result.last_checkpoint);
  else console.log('failed:', end.reason); // a bad job: every problem with its path, within a second
  await Promise.all([events.close(), queue.close()]);
  statusReader.disconnect();
  subscriber.disconnect();
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
