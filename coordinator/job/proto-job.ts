import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import type { Job } from './job-spec.ts';
import { JobSpecError, validateJob } from './validate-job.ts';

/**
 * The wire form of gradpool: proto/gradpool.proto loaded with protobufjs, and
 * the envelope a job travels in on the BullMQ queue `gradpool-jobs` (job name
 * "train"):
 *
 *   { schema: "gradpool.v1.TrainingJob", encoding: "json",   payload: { ...snake_case JSON... } }
 *   { schema: "gradpool.v1.TrainingJob", encoding: "binary", payload: "<base64 of the protobuf bytes>" }
 *
 * The JSON payload is the proto3 JSON mapping with the .proto's own field
 * names (model.config, a google.protobuf.Struct, is a plain JSON object).
 * Both encodings pass the same schema check (unknown fields and wrong types
 * are rejected with their paths), become the same plain object (unset
 * optional fields absent), and end in validateJob, so every producer gets the
 * defaults and the checks of a job file. Relative paths in a queued job
 * resolve against the coordinator's working directory: producers should send
 * absolute paths on the shared filesystem.
 */
export const JOBS_QUEUE = 'gradpool-jobs';
export const JOB_NAME = 'train';
export const JOB_SCHEMA = 'gradpool.v1.TrainingJob';
/** BullMQ's highest priority number (its PRIORITY_LIMIT). */
export const MAX_PRIORITY = 2 ** 21 - 1;

export type JobEncoding = 'json' | 'binary';
export type JobEnvelope =
  | { schema: typeof JOB_SCHEMA; encoding: 'json'; payload: Record<string, unknown> }
  | { schema: typeof JOB_SCHEMA; encoding: 'binary'; payload: string };

/** TrainingJob's fields that steer the service rather than the training (0/false = default). */
export interface ServiceFields {
  world_size: number;
  priority: number;
  resume: boolean;
}
export const SERVICE_FIELDS = ['world_size', 'priority', 'resume'] as const;

type Plain = Record<string, unknown>;

const root = new protobuf.Root();
// keepCase: field names stay snake_case, as in job files and job-spec.ts.
root.loadSync(fileURLToPath(new URL('../../proto/gradpool.proto', import.meta.url)), { keepCase: true });
root.resolveAll();

/** A message type of the schema by its short name, e.g. "Stage". */
export function schemaType(name: string): protobuf.Type {
  return root.lookupType(`gradpool.v1.${name}`);
}

const TrainingJob = schemaType('TrainingJob');
const STRUCT = '.google.protobuf.Struct';
const SAFE = Number.MAX_SAFE_INTEGER;
const INT_RANGE: Record<string, [number, number]> = {
  int32: [-(2 ** 31), 2 ** 31 - 1], sint32: [-(2 ** 31), 2 ** 31 - 1], sfixed32: [-(2 ** 31), 2 ** 31 - 1],
  uint32: [0, 2 ** 32 - 1], fixed32: [0, 2 ** 32 - 1],
  int64: [-SAFE, SAFE], sint64: [-SAFE, SAFE], sfixed64: [-SAFE, SAFE], uint64: [0, SAFE], fixed64: [0, SAFE],
};

const isPlain = (v: unknown): v is Plain => typeof v === 'object' && v !== null && !Array.isArray(v);
const show = (v: unknown) => JSON.stringify(v) ?? String(v);
const at = (path: string, key: string) => (path ? `${path}.${key}` : key);

// ---- schema check of plain objects: every problem with its path ----
// protobufjs' verify stops at the first problem, drops array indices from
// paths, ignores unknown fields and lets fromObject wrap -1 into a uint32.

function checkMessage(type: protobuf.Type, v: unknown, path: string, out: string[], strict: boolean): void {
  if (!isPlain(v)) {
    out.push(`${path || type.name}: object expected, got ${show(v)}`);
    return;
  }
  for (const [k, x] of Object.entries(v)) {
    const f = type.fields[k];
    const p = at(path, k);
    if (!f) {
      if (strict) out.push(`${p}: unknown field (expected one of ${Object.keys(type.fields).join(', ')})`);
    } else if (x === null || x === undefined) {
      // absent, as in the proto3 JSON mapping
    } else if (f.repeated) {
      if (!Array.isArray(x)) out.push(`${p}: array expected, got ${show(x)}`);
      else x.forEach((e, i) => checkValue(f, e, `${p}[${i}]`, out, strict));
    } else checkValue(f, x, p, out, strict);
  }
}

function checkValue(f: protobuf.Field, x: unknown, p: string, out: string[], strict: boolean): void {
  const t = f.resolvedType;
  if (t instanceof protobuf.Type) {
    if (t.fullName === STRUCT) checkJson(x, p, out, true);
    else checkMessage(t, x, p, out, strict);
  } else if (t instanceof protobuf.Enum) {
    const ok = typeof x === 'string' ? x in t.values : Object.values(t.values).includes(x as number);
    if (!ok) out.push(`${p}: one of ${Object.keys(t.values).join(', ')} expected, got ${show(x)}`);
  } else if (INT_RANGE[f.type]) {
    const [lo, hi] = INT_RANGE[f.type]!;
    if (typeof x !== 'number' || !Number.isInteger(x)) out.push(`${p}: integer expected, got ${show(x)}`);
    else if (x < lo || x > hi) out.push(`${p}: integer in [${lo}, ${hi}] expected (${f.type}), got ${x}`);
  } else if (f.type === 'double' || f.type === 'float') {
    if (typeof x !== 'number' || !Number.isFinite(x)) out.push(`${p}: number expected, got ${show(x)}`);
  } else if (f.type === 'bool') {
    if (typeof x !== 'boolean') out.push(`${p}: boolean expected, got ${show(x)}`);
  } else if (f.type === 'string') {
    if (typeof x !== 'string') out.push(`${p}: string expected, got ${show(x)}`);
  } else out.push(`${p}: ${f.type} fields have no JSON form here`);
}

/** A google.protobuf.Struct holds JSON: an object at the top, JSON values inside. */
function checkJson(x: unknown, p: string, out: string[], top = false): void {
  if (top && !isPlain(x)) out.push(`${p}: object expected, got ${show(x)}`);
  else if (Array.isArray(x)) x.forEach((e, i) => checkJson(e, `${p}[${i}]`, out));
  else if (isPlain(x)) for (const [k, e] of Object.entries(x)) checkJson(e, `${p}.${k}`, out);
  else if (!(x === null || typeof x === 'string' || typeof x === 'boolean' || (typeof x === 'number' && Number.isFinite(x)))) {
    out.push(`${p}: JSON value expected, got ${show(x)}`);
  }
}

// ---- google.protobuf.Struct ⇄ plain JSON (protobufjs has no wrapper for it) ----

function toValue(v: unknown): Plain {
  if (v === null || v === undefined) return { nullValue: 'NULL_VALUE' };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(toValue) } };
  return { structValue: toStruct(v as Plain) };
}
const toStruct = (o: Plain): Plain => ({ fields: Object.fromEntries(Object.entries(o).map(([k, v]) => [k, toValue(v)])) });

function fromValue(v: Plain): unknown {
  if ('numberValue' in v) return v.numberValue;
  if ('stringValue' in v) return v.stringValue;
  if ('boolValue' in v) return v.boolValue;
  if ('listValue' in v) return (((v.listValue as Plain).values as Plain[] | undefined) ?? []).map(fromValue);
  if ('structValue' in v) return fromStruct(v.structValue as Plain);
  return null;
}
const fromStruct = (s: Plain): Plain =>
  Object.fromEntries(Object.entries((s.fields as Record<string, Plain> | undefined) ?? {}).map(([k, v]) => [k, fromValue(v)]));

/** Applies the Struct conversion wherever the schema has a Struct field. */
function mapStructs(type: protobuf.Type, obj: Plain, toProto: boolean): Plain {
  const out: Plain = { ...obj };
  for (const [k, v] of Object.entries(obj)) {
    const f = type.fields[k];
    const t = f?.resolvedType;
    if (!f || !(t instanceof protobuf.Type) || v === null || v === undefined) continue;
    const conv = (x: unknown) => (t.fullName === STRUCT ? (toProto ? toStruct : fromStruct)(x as Plain) : mapStructs(t, x as Plain, toProto));
    out[k] = f.repeated ? (v as unknown[]).map(conv) : conv(v);
  }
  return out;
}

// ---- message ⇄ plain object ----

/** Checks a plain object against `type` and makes the message; throws with every problem. */
function fromPlain(type: protobuf.Type, obj: unknown, path: string, strict: boolean): protobuf.Message {
  const problems: string[] = [];
  checkMessage(type, obj, path, problems, strict);
  if (problems.length) {
    if (type === TrainingJob) throw new JobSpecError(path || 'job', problems);
    throw new Error(`${type.fullName.slice(1)}: ${problems.join('; ')}`);
  }
  return type.fromObject(mapStructs(type, obj as Plain, true));
}

/**
 * The message as a plain object with snake_case names. defaults: false keeps
 * unset fields (and empty lists) absent, so validateJob applies its defaults;
 * defaults: true (status, progress, results) gives readers every scalar.
 */
function toPlain(type: protobuf.Type, message: protobuf.Message, defaults: boolean): Plain {
  const o = type.toObject(message, { defaults, longs: Number, enums: String, arrays: false, objects: false, oneofs: false });
  return mapStructs(type, dropNulls(o) as Plain, false); // Struct nulls are JSON nulls: keep them
}

/** defaults: true writes unset message fields as null; absent says the same in JSON. */
function dropNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(dropNulls);
  if (!isPlain(v)) return v;
  return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== null).map(([k, x]) => [k, dropNulls(x)]));
}

/** Unknown field numbers and wrong wire types in protobuf bytes (protobufjs' decode skips or misreads them). */
function checkWire(type: protobuf.Type, bytes: Uint8Array, path: string, out: string[]): void {
  const r = protobuf.Reader.create(bytes);
  const count = new Map<number, number>();
  while (r.pos < r.len) {
    const tag = r.uint32();
    const id = tag >>> 3;
    const wire = tag & 7;
    const f = type.fieldsById[id];
    if (!f) {
      out.push(`${path}: unknown field number ${id} (not in ${type.fullName.slice(1)})`);
      r.skipType(wire);
      continue;
    }
    const i = count.get(id) ?? 0;
    count.set(id, i + 1);
    const p = `${path}.${f.name}${f.repeated ? `[${i}]` : ''}`;
    const t = f.resolvedType;
    const expected = t instanceof protobuf.Type ? 2 : t instanceof protobuf.Enum ? 0 : (protobuf.types.basic as Record<string, number>)[f.type];
    if (wire !== expected && !(f.repeated && wire === 2)) {
      out.push(`${p}: wire type ${wire}, expected ${expected} (${f.type})`);
      r.skipType(wire);
    } else if (t instanceof protobuf.Type && t.fullName !== STRUCT) checkWire(t, r.bytes(), p, out);
    else r.skipType(wire);
  }
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function decodeBinary(b64: string): protobuf.Message {
  if (!BASE64.test(b64)) throw new JobSpecError('payload', ['payload: base64 expected (standard alphabet, padded)']);
  const bytes = Buffer.from(b64, 'base64');
  const problems: string[] = [];
  try {
    checkWire(TrainingJob, bytes, 'payload', problems);
    if (!problems.length) return TrainingJob.decode(bytes);
  } catch (e) {
    problems.push(`payload: not a valid ${JOB_SCHEMA} in protobuf binary (${(e as Error).message})`);
  }
  throw new JobSpecError('payload', problems);
}

// ---- the job envelope ----

/** A job file's shorthands (`tokenizer: <path>`, a single corpus file) in the schema's shape. */
function fromJobFileShape(raw: Plain): Plain {
  const o: Plain = { ...raw };
  if (typeof o.tokenizer === 'string') o.tokenizer = { path: o.tokenizer };
  if (isPlain(o.corpus)) {
    const c: Plain = { ...o.corpus };
    for (const k of ['train', 'valid']) if (typeof c[k] === 'string') c[k] = [c[k]];
    o.corpus = c;
  }
  return o;
}

/**
 * Wraps a job object (the shape of a YAML/JSON job file, snake_case, plus the
 * service fields) for the queue. Checks it against the schema only: the
 * coordinator runs validateJob when it takes the job.
 */
export function encodeJobEnvelope(raw: object, encoding: JobEncoding = 'json'): JobEnvelope {
  const message = fromPlain(TrainingJob, fromJobFileShape(raw as Plain), '', true);
  if (encoding === 'binary') return { schema: JOB_SCHEMA, encoding, payload: Buffer.from(TrainingJob.encode(message).finish()).toString('base64') };
  if (encoding === 'json') return { schema: JOB_SCHEMA, encoding, payload: toPlain(TrainingJob, message, false) };
  throw new JobSpecError('envelope', [`encoding: expected "json" or "binary", got ${show(encoding)}`]);
}

/** A validated Job (the typed client's path) and its service fields as an envelope. */
export function jobToEnvelope(job: Job, service: Partial<ServiceFields> = {}, encoding: JobEncoding = 'json'): JobEnvelope {
  // Defaulted fields go explicitly: validateJob gives them back unchanged (paths are already absolute).
  return encodeJobEnvelope({ ...job, ...service }, encoding);
}

/** Checks the envelope itself; every problem at once. */
function readEnvelope(data: unknown): JobEnvelope {
  if (!isPlain(data)) throw new JobSpecError('envelope', [`must be an object { schema, encoding, payload }, got ${show(data)}`]);
  const problems: string[] = [];
  for (const k of Object.keys(data)) if (!['schema', 'encoding', 'payload'].includes(k)) problems.push(`${k}: unknown field (expected schema, encoding, payload)`);
  if (data.schema !== JOB_SCHEMA) problems.push(`schema: expected "${JOB_SCHEMA}", got ${show(data.schema)}`);
  if (data.encoding === 'json') {
    if (!isPlain(data.payload)) problems.push(`payload: the json encoding needs an object, got ${show(data.payload)}`);
  } else if (data.encoding === 'binary') {
    if (typeof data.payload !== 'string') problems.push(`payload: the binary encoding needs a base64 string, got ${show(data.payload)}`);
  } else problems.push(`encoding: expected "json" or "binary", got ${show(data.encoding)}`);
  if (problems.length) throw new JobSpecError('envelope', problems);
  return data as JobEnvelope;
}

/**
 * Unwraps, decodes and validates a job taken from the queue. Throws
 * JobSpecError naming every problem with its path: envelope fields,
 * `payload.<path>` for schema problems, validateJob's paths after that.
 */
export function decodeJobEnvelope(data: unknown): { job: Job; service: ServiceFields } {
  const env = readEnvelope(data);
  const message = env.encoding === 'json' ? fromPlain(TrainingJob, env.payload, 'payload', true) : decodeBinary(env.payload);
  const { world_size = 0, priority = 0, resume = false, ...fields } = toPlain(TrainingJob, message, false);
  const service = { world_size, priority, resume } as ServiceFields;
  const problems: string[] = [];
  if (service.priority < 0 || service.priority > MAX_PRIORITY) problems.push(`priority: must be in [0, ${MAX_PRIORITY}] (BullMQ), got ${service.priority}`);
  try {
    const job = validateJob(fields, 'payload');
    if (!problems.length) return { job, service };
  } catch (e) {
    if (!(e instanceof JobSpecError)) throw e;
    problems.push(...e.problems);
  }
  throw new JobSpecError('payload', problems);
}

// ---- what travels back: status, progress, results (JSON, snake_case) ----

export type JobStateName =
  | 'JOB_STATE_UNSPECIFIED' | 'QUEUED' | 'PREPARING' | 'WAITING_FOR_WORKERS' | 'RUNNING' | 'COMPLETED' | 'FAILED' | 'CANCELLED' | 'PAUSED';

export interface EvalMetricsJson {
  loss: number;
  perplexity: number;
  masked_accuracy: number;
  top10_accuracy: number;
  all_tokens_accuracy: number;
  f1: number;
  masked_tokens: number;
}

export interface ProgressJson {
  stage: number;
  step: number;
  max_steps: number;
  global_step: number;
  loss: number;
  lr: number;
  grad_norm: number;
  tokens_per_s: number;
  eta_s: number;
  eval?: EvalMetricsJson;
  world_size: number;
  message: string;
  step_s: number;
}

export interface JobStatusJson {
  id: string;
  state: JobStateName;
  message: string;
  progress?: ProgressJson;
  updated_at_ms: number;
  created_at_ms: number;
  started_at_ms: number;
  finished_at_ms: number;
}

export interface RunResultJson {
  run_id: string;
  run_dir: string;
  best_checkpoint: string;
  last_checkpoint: string;
  hf_dir: string;
  first_eval?: EvalMetricsJson;
  last_eval?: EvalMetricsJson;
  best_metric: string;
  best_value?: number;
  stop_reason: string;
  steps: number;
  finished: boolean;
  cancelled: boolean;
  world_size: number;
  attempts: number;
}

/**
 * Producer side: rejects unknown fields and wrong types; fills every unset
 * scalar with its zero value (unset messages and best_value stay absent).
 * Reader side (from*): the same, but unknown fields (a newer producer) are dropped.
 */
function schemaJson<T>(name: string, obj: unknown, strict: boolean): T {
  const type = schemaType(name);
  return toPlain(type, fromPlain(type, obj, '', strict), true) as T;
}

export const toProgressJson = (p: Partial<ProgressJson>) => schemaJson<ProgressJson>('Progress', p, true);
export const toStatusJson = (s: Partial<JobStatusJson>) => schemaJson<JobStatusJson>('JobStatus', s, true);
export const toRunResultJson = (r: Partial<RunResultJson>) => schemaJson<RunResultJson>('RunResult', r, true);
export const fromProgressJson = (data: unknown) => schemaJson<ProgressJson>('Progress', data, false);
export const fromStatusJson = (data: unknown) => schemaJson<JobStatusJson>('JobStatus', data, false);
export const fromRunResultJson = (data: unknown) => schemaJson<RunResultJson>('RunResult', data, false);
