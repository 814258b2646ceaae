import { createHash } from 'node:crypto';
import { writeFileAtomic } from '../../common/atomic-write.ts';
import { readFileNamed } from '../../common/read-file.ts';
import { bf16ToF32, f16ToF32 } from './safetensors.ts';
import type { HostTensor, StateDict } from '../state-dict.ts';
import { PickleWriter, unpickle, type PyValue, type TensorRecord } from './pickle.ts';
import { readZip, writeZip } from './zip.ts';

/**
 * PyTorch's own checkpoint format (torch.save since 1.6): a zip holding
 * data.pkl (the pickled object, tensors as references), data/<key> (raw
 * little-endian storages), byteorder and version. Files written here load
 * with `torch.load` and `BertForMaskedLM.load_state_dict`.
 */
export type TorchObject = Map<string, PyValue | HostTensor>;

const ARCHIVE = 'archive';

/** What was written: the file's size and SHA-256 (a checkpoint manifest records them). */
export interface FileDigest {
  bytes: number;
  sha256: string;
}

export function saveTorchFile(path: string, obj: TorchObject): FileDigest {
  const storages: Float32Array[] = [];
  const convert = (v: unknown): PyValue => {
    if (v && typeof v === 'object' && 'data' in v && (v as HostTensor).data instanceof Float32Array) {
      const t = v as HostTensor;
      const key = String(storages.length);
      storages.push(t.data);
      const stride = t.shape.map((_, i) => t.shape.slice(i + 1).reduce((a, b) => a * b, 1));
      const rec: TensorRecord = { tensor: { dtype: 'FloatStorage', key, shape: t.shape, stride, offset: 0, numel: t.data.length } };
      return rec;
    }
    if (v instanceof Map) return new Map([...v].map(([k, x]) => [k, convert(x)]));
    if (Array.isArray(v)) return v.map(convert);
    return v as PyValue;
  };
  const pkl = new PickleWriter().finish(convert(obj));
  const entries = [
    { name: `${ARCHIVE}/data.pkl`, data: pkl },
    { name: `${ARCHIVE}/byteorder`, data: Buffer.from('little') },
    ...storages.map((s, i) => ({ name: `${ARCHIVE}/data/${i}`, data: new Uint8Array(s.buffer, s.byteOffset, s.byteLength) })),
    { name: `${ARCHIVE}/version`, data: Buffer.from('3\n') },
  ];
  const chunks = writeZip(entries);
  const hash = createHash('sha256');
  let bytes = 0;
  for (const c of chunks) {
    hash.update(c);
    bytes += c.byteLength;
  }
  writeFileAtomic(path, chunks);
  return { bytes, sha256: hash.digest('hex') };
}

const DTYPES: Record<string, { bytes: number; read: (b: Buffer, i: number) => number }> = {
  FloatStorage: { bytes: 4, read: (b, i) => b.readFloatLE(i * 4) },
  DoubleStorage: { bytes: 8, read: (b, i) => b.readDoubleLE(i * 8) },
  HalfStorage: { bytes: 2, read: (b, i) => f16ToF32(b.readUInt16LE(i * 2)) },
  BFloat16Storage: { bytes: 2, read: (b, i) => bf16ToF32(b.readUInt16LE(i * 2)) },
  LongStorage: { bytes: 8, read: (b, i) => Number(b.readBigInt64LE(i * 8)) },
  IntStorage: { bytes: 4, read: (b, i) => b.readInt32LE(i * 4) },
};

/** Loads a torch.save'd object; tensors come back as float32 HostTensors. */
export function loadTorchFile(path: string): PyValue {
  return parseTorchFile(readFileNamed(path, 'checkpoint'), path);
}

/** A torch.save'd object from its bytes (every zip entry's CRC-32 checked). */
export function parseTorchFile(buf: Buffer, path: string): PyValue {
  const files = readZip(buf, path);
  const pklName = [...files.keys()].find((n) => n.endsWith('/data.pkl'));
  if (!pklName) throw new Error(`${path}: no data.pkl in the archive (not a torch.save file)`);
  const prefix = pklName.slice(0, -'data.pkl'.length);
  const rebuild = (v: PyValue): PyValue => {
    if (v instanceof Map) return new Map([...v].map(([k, x]) => [k, rebuild(x)]));
    if (Array.isArray(v)) return v.map(rebuild);
    if (v && typeof v === 'object' && 'tensor' in (v as object)) {
      const t = (v as TensorRecord).tensor;
      const dt = DTYPES[t.dtype];
      if (!dt) throw new Error(`${path}: tensor storage ${t.dtype} is not supported`);
      const raw = files.get(`${prefix}data/${t.key}`);
      if (!raw) throw new Error(`${path}: storage ${t.key} missing (truncated checkpoint)`);
      const n = t.shape.reduce((a, b) => a * b, 1);
      const data = new Float32Array(n);
      const idx = new Array<number>(t.shape.length).fill(0);
      for (let i = 0; i < n; i++) {
        let off = t.offset;
        for (let d = 0; d < idx.length; d++) off += idx[d]! * t.stride[d]!;
        data[i] = dt.read(raw, off);
        for (let d = idx.length - 1; d >= 0; d--) {
          if (++idx[d]! < t.shape[d]!) break;
          idx[d] = 0;
        }
      }
      return { shape: t.shape, data } satisfies HostTensor;
    }
    return v;
  };
  return rebuild(unpickle(files.get(pklName)!, path));
}

/** A state dict (name → tensor) from a loaded torch file, or from its "model" entry. */
export function stateDictOf(obj: PyValue, source: string): StateDict {
  let m = obj;
  if (m instanceof Map && m.has('model') && m.get('model') instanceof Map) m = m.get('model');
  if (m instanceof Map && m.has('state_dict') && m.get('state_dict') instanceof Map) m = m.get('state_dict');
  if (!(m instanceof Map)) throw new Error(`${source}: not a state dict`);
  const sd: StateDict = new Map();
  for (const [k, v] of m) {
    if (typeof k === 'string' && v && typeof v === 'object' && 'data' in (v as object)) sd.set(k, v as HostTensor);
  }
  return sd;
}
