import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { JobSpecError, shown } from '../spec/validate-job.ts';

/**
 * proto/gradpool.proto loaded with protobufjs, and the checks protobufjs does
 * not do: every problem of a plain object (or of protobuf bytes) with its
 * path, google.protobuf.Struct as plain JSON, and the message ⇄ plain object
 * conversions every wire form goes through.
 */
export type Plain = Record<string, unknown>;

const root = new protobuf.Root();
// keepCase: field names stay snake_case, as in job files and job-spec.ts.
root.loadSync(fileURLToPath(new URL('../proto/gradpool.proto', import.meta.url)), { keepCase: true });
root.resolveAll();

/** A message type of the schema by its short name, e.g. "Stage". */
export function schemaType(name: string): protobuf.Type {
  return root.lookupType(`gradpool.v1.${name}`);
}

export const TrainingJob = schemaType('TrainingJob');
const STRUCT = '.google.protobuf.Struct';
const SAFE = Number.MAX_SAFE_INTEGER;
const INT_RANGE: Record<string, [number, number]> = {
  int32: [-(2 ** 31), 2 ** 31 - 1], sint32: [-(2 ** 31), 2 ** 31 - 1], sfixed32: [-(2 ** 31), 2 ** 31 - 1],
  uint32: [0, 2 ** 32 - 1], fixed32: [0, 2 ** 32 - 1],
  int64: [-SAFE, SAFE], sint64: [-SAFE, SAFE], sfixed64: [-SAFE, SAFE], uint64: [0, SAFE], fixed64: [0, SAFE],
};


export const isPlain = (v: unknown): v is Plain => typeof v === 'object' && v !== null && !Array.isArray(v);
export const show = shown;
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
export function fromPlain(type: protobuf.Type, obj: unknown, path: string, strict: boolean): protobuf.Message {
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
export function toPlain(type: protobuf.Type, message: protobuf.Message, defaults: boolean): Plain {
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
export function checkWire(type: protobuf.Type, bytes: Uint8Array, path: string, out: string[]): void {
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


/**
 * A message of the schema as JSON from a plain object. Producer side
 * (strict): rejects unknown fields and wrong types; fills every unset scalar
 * with its zero value (unset messages stay absent). Reader side: the same,
 * but unknown fields (a newer producer) are dropped.
 */
export function schemaJson<T>(name: string, obj: unknown, strict: boolean): T {
  const type = schemaType(name);
  return toPlain(type, fromPlain(type, obj, '', strict), true) as T;
}
