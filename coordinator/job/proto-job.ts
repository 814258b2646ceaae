import protobuf from 'protobufjs';
import type { Job } from './job-spec.ts';
import { JobSpecError, validateJob } from './validate-job.ts';

/**
 * The job schema on the wire: proto/gradpool.proto, loaded with protobufjs.
 * A job travels on the BullMQ queue `gradpool-jobs` (job name "train") as an
 * envelope: { schema: "gradpool.v1.TrainingJob", encoding: "json" | "binary",
 * payload }, where payload is the message as a JSON object with the .proto's
 * own (snake_case) field names, or its protobuf bytes in base64. Both go
 * through the schema, then through validateJob: one entry check for the
 * typed client and for any other producer.
 */
export const JOBS_QUEUE = 'gradpool-jobs';
export const JOB_SCHEMA = 'gradpool.v1.TrainingJob';

export interface JobEnvelope {
  schema: string;
  encoding: 'json' | 'binary';
  payload: unknown;
}

/** Fields of TrainingJob that steer the service rather than the training. */
export interface ServiceFields {
  world_size: number;
  priority: number;
  resume: boolean;
}

const root = new protobuf.Root();
root.loadSync(new URL('../../proto/gradpool.proto', import.meta.url).pathname, { keepCase: true });
root.resolveAll();
const TrainingJob = root.lookupType(JOB_SCHEMA);

/** The schema's message types by name, e.g. for progress or results. */
export function schemaType(name: string): protobuf.Type {
  return root.lookupType(`gradpool.v1.${name}`);
}

type Plain = Record<string, unknown>;

/** Unknown fields anywhere in the object, with their paths (protobufjs' verify ignores them). */
function unknownFields(type: protobuf.Type, obj: unknown, path: string, out: string[]): void {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return;
  for (const [k, v] of Object.entries(obj as Plain)) {
    const f = type.fields[k];
    const p = path ? `${path}.${k}` : k;
    if (!f) {
      out.push(`${p}: unknown field (expected one of ${Object.keys(type.fields).join(', ')})`);
      continue;
    }
    const sub = f.resolvedType;
    if (!(sub instanceof protobuf.Type) || sub.fullName === '.google.protobuf.Struct') continue;
    if (f.repeated && Array.isArray(v)) v.forEach((x, i) => unknownFields(sub, x, `${p}[${i}]`, out));
    else unknownFields(sub, v, p, out);
  }
}

function toValue(v: unknown): Plain {
  if (v === null || v === undefined) return { nullValue: 0 };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(toValue) } };
  return { structValue: toStruct(v as Plain) };
}
function toStruct(o: Plain): Plain {
  return { fields: Object.fromEntries(Object.entries(o).map(([k, v]) => [k, toValue(v)])) };
}
function fromValue(v: Plain): unknown {
  if ('numberValue' in v) return v.numberValue;
  if ('stringValue' in v) return v.stringValue;
  if ('boolValue' in v) return v.boolValue;
  if ('listValue' in v) return ((v.listValue as Plain).values as Plain[] | undefined ?? []).map(fromValue);
  if ('structValue' in v) return fromStruct(v.structValue as Plain);
  return null;
}
function fromStruct(s: Plain): Plain {
  return Object.fromEntries(Object.entries((s.fields as Record<string, Plain>) ?? {}).map(([k, v]) => [k, fromValue(v)]));
}

/** A job as users write it → the message object protobufjs takes (Struct for model.config). */
function toMessageObject(raw: Plain): Plain {
  const model = raw.model as Plain | undefined;
  if (model?.config && typeof model.config === 'object') return { ...raw, model: { ...model, config: toStruct(model.config as Plain) } };
  return raw;
}

function toPlain(message: protobuf.Message): Plain {
  const o = TrainingJob.toObject(message, { defaults: false, longs: Number, enums: String, oneofs: false }) as Plain;
  const model = o.model as Plain | undefined;
  if (model?.config) o.model = { ...model, config: fromStruct(model.config as Plain) };
  return o;
}

function schemaCheck(raw: unknown, where: string): protobuf.Message {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new JobSpecError(where, ['payload: must be an object']);
  const msgObj = toMessageObject(raw as Plain);
  const problems: string[] = [];
  unknownFields(TrainingJob, msgObj, '', problems);
  const why = TrainingJob.verify(msgObj);
  if (why) problems.push(why);
  if (problems.length) throw new JobSpecError(where, problems);
  return TrainingJob.fromObject(msgObj);
}

/** Wraps a job object (snake_case, as in a job file, plus service fields) for the queue. */
export function encodeJobEnvelope(raw: object, encoding: 'json' | 'binary' = 'json'): JobEnvelope {
  const message = schemaCheck(raw, 'job');
  const payload = encoding === 'json' ? toPlain(message) : Buffer.from(TrainingJob.encode(message).finish()).toString('base64');
  return { schema: JOB_SCHEMA, encoding, payload };
}

/** Unwraps, decodes and validates a job from the queue; every problem comes with its field path. */
export function decodeJobEnvelope(data: unknown): { job: Job; service: ServiceFields } {
  const env = data as Partial<JobEnvelope> | null;
  if (typeof env !== 'object' || env === null) throw new JobSpecError('envelope', ['must be an object { schema, encoding, payload }']);
  if (env.schema !== JOB_SCHEMA) throw new JobSpecError('envelope', [`schema: expected "${JOB_SCHEMA}", got ${JSON.stringify(env.schema)}`]);
  let message: protobuf.Message;
  if (env.encoding === 'json') {
    message = schemaCheck(env.payload, 'payload');
  } else if (env.encoding === 'binary') {
    if (typeof env.payload !== 'string') throw new JobSpecError('envelope', ['payload: binary encoding needs a base64 string']);
    try {
      message = TrainingJob.decode(Buffer.from(env.payload, 'base64'));
    } catch (e) {
      throw new JobSpecError('payload', [`not a valid ${JOB_SCHEMA} in protobuf binary: ${(e as Error).message}`]);
    }
  } else {
    throw new JobSpecError('envelope', [`encoding: expected "json" or "binary", got ${JSON.stringify(env.encoding)}`]);
  }
  const plain = toPlain(message);
  const service: ServiceFields = {
    world_size: Number(plain.world_size ?? 0),
    priority: Number(plain.priority ?? 0),
    resume: Boolean(plain.resume ?? false),
  };
  delete plain.world_size;
  delete plain.priority;
  delete plain.resume;
  return { job: validateJob(plain, 'payload'), service };
}

/** A validated Job back into an envelope (the typed client's path). */
export function jobToEnvelope(job: Job, service: ServiceFields, encoding: 'json' | 'binary' = 'json'): JobEnvelope {
  const prune = (o: Plain): Plain =>
    Object.fromEntries(Object.entries(o).filter(([, v]) => v !== '' && v !== null && !(Array.isArray(v) && v.length === 0)));
  const raw: Plain = {
    ...prune({ name: job.name, output_dir: job.output_dir, seed: job.seed, engine: job.engine, keep_last: job.keep_last }),
    corpus: prune({ ...job.corpus }),
    tokenizer: prune({ ...job.tokenizer, build_vocab_size: job.tokenizer.build_vocab_size || null }),
    model: prune({ ...job.model, config: Object.keys(job.model.config).length ? job.model.config : null }),
    stages: job.stages.map((s) => ({ ...s })),
    early_stopping: prune({ ...job.early_stopping }),
    world_size: service.world_size,
    priority: service.priority,
    resume: service.resume,
  };
  return encodeJobEnvelope(raw, encoding);
}
