import { createHash } from 'node:crypto';
import { writeFileAtomic } from '../../common/atomic-write.ts';
import { CorruptFileError, readFileNamed } from '../../common/read-file.ts';
import { numel, type HostTensor, type StateDict } from '../state-dict.ts';

/**
 * The safetensors format (Hugging Face's model.safetensors): an 8-byte
 * little-endian header length, a JSON header {name: {dtype, shape,
 * data_offsets}}, then raw little-endian tensor bytes. Small enough that a
 * dependency would cost more than it saves; tests check it against files
 * written by Python. Files written here carry the SHA-256 of their tensor
 * bytes in the header's metadata (`gradpool_sha256`, a string as the format
 * allows; Hugging Face ignores it), and reading checks it when present.
 */
const CHECKSUM_KEY = 'gradpool_sha256';

/** Reads F32, F16, BF16 and F64 tensors, returned as float32. */
export function readSafetensors(path: string): { tensors: StateDict; metadata: Record<string, string> } {
  const buf = readFileNamed(path, 'weights');
  if (buf.byteLength < 8) throw new CorruptFileError(path, `not a safetensors file (${buf.byteLength} bytes)`);
  const headerLen = Number(buf.readBigUInt64LE(0));
  if (8 + headerLen > buf.byteLength) {
    throw new CorruptFileError(path, `truncated safetensors file (header says ${headerLen} bytes, file has ${buf.byteLength})`);
  }
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;
  try {
    header = JSON.parse(buf.subarray(8, 8 + headerLen).toString('utf8'));
  } catch (e) {
    throw new CorruptFileError(path, `unreadable safetensors header (${(e as Error).message})`);
  }
  const base = 8 + headerLen;
  const declared = (header.__metadata__ as Record<string, string> | undefined)?.[CHECKSUM_KEY];
  if (declared && createHash('sha256').update(buf.subarray(base)).digest('hex') !== declared) {
    throw new CorruptFileError(path, 'its tensor bytes differ from the SHA-256 recorded when it was written');
  }
  const tensors: StateDict = new Map();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = entry as Record<string, string>;
      continue;
    }
    const { dtype, shape, data_offsets } = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const [begin, end] = data_offsets;
    if (base + end > buf.byteLength) throw new CorruptFileError(path, `tensor ${name} runs past the end of the file`);
    const bytes = buf.subarray(base + begin, base + end);
    tensors.set(name, { shape, data: decode(bytes, dtype, numel(shape), `${path}: ${name}`) });
  }
  return { tensors, metadata };
}

function decode(bytes: Buffer, dtype: string, n: number, where: string): Float32Array {
  const out = new Float32Array(n);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const width = { F32: 4, F64: 8, F16: 2, BF16: 2 }[dtype];
  if (width === undefined) throw new Error(`${where}: unsupported dtype ${dtype} (F32, F64, F16, BF16 are read)`);
  if (bytes.byteLength !== n * width) throw new Error(`${where}: ${bytes.byteLength} bytes for ${n} ${dtype} values`);
  for (let i = 0; i < n; i++) {
    if (dtype === 'F32') out[i] = dv.getFloat32(i * 4, true);
    else if (dtype === 'F64') out[i] = dv.getFloat64(i * 8, true);
    else if (dtype === 'BF16') out[i] = bf16ToF32(dv.getUint16(i * 2, true));
    else out[i] = f16ToF32(dv.getUint16(i * 2, true));
  }
  return out;
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);
/** bfloat16 bits → float32 value. */
export function bf16ToF32(h: number): number {
  u32Scratch[0] = h << 16;
  return f32Scratch[0]!;
}
/** IEEE half bits → float32 value. */
export function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/** Writes float32 tensors in the given order, atomically. */
export function writeSafetensors(path: string, tensors: StateDict, metadata: Record<string, string> = {}): void {
  const data = [...tensors.values()].map(littleEndianBytes);
  const sha = createHash('sha256');
  for (const d of data) sha.update(d);
  const header: Record<string, unknown> = { __metadata__: { format: 'pt', ...metadata, [CHECKSUM_KEY]: sha.digest('hex') } };
  let offset = 0;
  for (const [name, t] of tensors) {
    const bytes = t.data.byteLength;
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  const chunks: Uint8Array[] = [head, Buffer.from(json, 'utf8')];
  writeFileAtomic(path, [...chunks, ...data]);
}

function littleEndianBytes(t: HostTensor): Uint8Array {
  // x86-64 and arm64 are little-endian, as the format requires.
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}
