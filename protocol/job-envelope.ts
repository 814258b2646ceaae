import type { Job } from '../spec/job-spec.ts';
import { JobSpecError, validateJob } from '../spec/validate-job.ts';
import { checkWire, fromPlain, isPlain, show, toPlain, TrainingJob, type Plain } from './schema.ts';

/**
 * The envelope a job travels in on the BullMQ queue `gradpool-jobs` (job name
 * "train"; both names in queues.ts):
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
export const JOB_SCHEMA = 'gradpool.v1.TrainingJob';
/** BullMQ's highest priority number (its PRIORITY_LIMIT). */
export const MAX_PRIORITY = 2 ** 21 - 1;

export type JobEncoding = 'json' | 'binary';
export type JobEnvelope =
  | { schema: typeof JOB_SCHEMA; encoding: 'json'; payload: Record<string, unknown> }
  | { schema: typeof JOB_SCHEMA; encoding: 'binary'; payload: string };

/** TrainingJob's fields that steer the service rather than the training (0/false/absent = default). */
export interface ServiceFields {
  world_size: number;
  priority: number;
  resume: boolean;
  /** Absent or 0 = world_size. */
  min_world_size?: number;
  /** Absent = true. */
  preemptible?: boolean;
  /** Absent = the coordinator's default (3). */
  max_restarts?: number;
}
export const SERVICE_FIELDS = ['world_size', 'priority', 'resume', 'min_world_size', 'preemptible', 'max_restarts'] as const;

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function decodeBinary(b64: string): protobuf.Message {
  if (!BASE64.test(b64)) throw new JobSpecError('payload', ['payload: base64 expected (standard alphabet, padded)']);
  const bytes = Buffer.from(b64, 'base64');
  const problems: string[] = [];
  try {
    checkWire(TrainingJob, bytes, 'payload', problems);
    if (!problems.length) {
      const job = TrainingJob.decode(bytes) as protobuf.Message & { model?: { config?: { fields?: object } } };
      // A plain object given to a generated Struct encodes as an empty one: the job would train the default config.
      if (job.model?.config && Object.keys(job.model.config.fields ?? {}).length === 0) {
        problems.push('payload.model.config: an empty google.protobuf.Struct (build it with Struct.fromJavaScript / struct_pb2.Struct.update; a plain object encodes as empty); leave the field unset for the default config');
      } else return job;
    }
  } catch (e) {
    problems.push(`payload: not a valid ${JOB_SCHEMA} in protobuf binary (${(e as Error).message})`);
  }
  throw new JobSpecError('payload', problems);
}

/** A job file's shorthands (`tokenizer: <path>`, a single file, `class_weights: balanced | [w…]`) in the schema's shape. */
function fromJobFileShape(raw: Plain): Plain {
  const o: Plain = { ...raw };
  if (typeof o.tokenizer === 'string') o.tokenizer = { path: o.tokenizer };
  if (isPlain(o.corpus)) o.corpus = fileLists(o.corpus);
  if (Array.isArray(o.stages)) o.stages = o.stages.map((s) => (isPlain(s) ? stageShape(s) : s));
  // An empty config means "none" (validateJob's default): leave it unset, as a binary reader refuses an empty Struct.
  if (isPlain(o.model) && isPlain(o.model.config) && Object.keys(o.model.config).length === 0) {
    const { config: _, ...model } = o.model;
    o.model = model;
  }
  return o;
}

function stageShape(raw: Plain): Plain {
  const s: Plain = { ...raw };
  if (isPlain(s.labels)) s.labels = fileLists(s.labels);
  if (s.class_weights === 'balanced') s.class_weights = { balanced: true };
  else if (Array.isArray(s.class_weights)) s.class_weights = { values: s.class_weights };
  return s;
}

function fileLists(raw: Plain): Plain {
  const c: Plain = { ...raw };
  for (const k of ['train', 'valid']) if (typeof c[k] === 'string') c[k] = [c[k]];
  return c;
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
  const { world_size = 0, priority = 0, resume = false, min_world_size, preemptible, max_restarts, ...fields } = toPlain(TrainingJob, message, false);
  // The scheduling fields appear only when set, so a job without them reads as before.
  const service = {
    world_size, priority, resume,
    ...(min_world_size ? { min_world_size } : {}),
    ...(preemptible !== undefined ? { preemptible } : {}),
    ...(max_restarts !== undefined ? { max_restarts } : {}),
  } as ServiceFields;
  const problems: string[] = [];
  if (service.priority < 0 || service.priority > MAX_PRIORITY) problems.push(`payload.priority: must be in [0, ${MAX_PRIORITY}], got ${service.priority}`);
  if (service.min_world_size && service.world_size && service.min_world_size > service.world_size) {
    problems.push(`payload.min_world_size: ${service.min_world_size} is larger than world_size ${service.world_size}`);
  }
  try {
    const job = validateJob(fields, 'payload');
    if (!problems.length) return { job, service };
  } catch (e) {
    if (!(e instanceof JobSpecError)) throw e;
    problems.push(...e.problems);
  }
  throw new JobSpecError('payload', problems);
}
