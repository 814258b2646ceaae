import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../common/atomic-write.ts';

/**
 * Tokenized labelled examples, written once by the coordinator side and read
 * by every rank: each example is `seqLen` token ids ([CLS] a [SEP] (b [SEP]),
 * padded), their token types, its length and its label id. Layout (little-
 * endian, sections 8-byte aligned):
 *
 *   "GPEXv001" | u32 header length | header JSON | ids (i32, count × seqLen)
 *   | token types (u8, count × seqLen) | lengths (i32) | labels (i32) | sha256 of all before it
 *
 * A key mismatch, a short file or a bad checksum means stale or truncated.
 */
const MAGIC = 'GPEXv001';

export interface ExampleCacheHeader {
  key: string;
  count: number;
  seqLen: number;
}

export interface Examples {
  header: ExampleCacheHeader;
  ids: Int32Array;
  tokenTypes: Uint8Array;
  lengths: Int32Array;
  labels: Int32Array;
}

const align8 = (n: number) => (n + 7) & ~7;

export function writeExampleCache(path: string, e: Examples): void {
  const { count, seqLen } = e.header;
  if (e.ids.length !== count * seqLen || e.tokenTypes.length !== count * seqLen || e.lengths.length !== count || e.labels.length !== count) {
    throw new Error(`${path}: example arrays do not match ${count} examples of ${seqLen} tokens`);
  }
  const head = Buffer.from(JSON.stringify(e.header));
  const pre = Buffer.alloc(align8(12 + head.byteLength));
  pre.write(MAGIC, 0, 'latin1');
  pre.writeUInt32LE(head.byteLength, 8);
  head.copy(pre, 12);
  const pad = (b: Uint8Array) => Buffer.concat([b, Buffer.alloc(align8(b.byteLength) - b.byteLength)]);
  const bytes = (a: Int32Array | Uint8Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const parts = [pre, pad(bytes(e.ids)), pad(bytes(e.tokenTypes)), pad(bytes(e.lengths)), pad(bytes(e.labels))];
  const sum = createHash('sha256');
  for (const p of parts) sum.update(p);
  writeFileAtomic(path, [...parts, sum.digest()]);
}

/** Opens and verifies a cache; throws with the reason if it is stale, truncated or corrupt. */
export function readExampleCache(path: string, expectedKey?: string): Examples {
  const buf = readFileSync(path);
  const fail = (why: string) => new Error(`${path}: example cache ${why}`);
  if (buf.byteLength < 12 + 32 || buf.toString('latin1', 0, 8) !== MAGIC) throw fail('has no valid header');
  const body = buf.subarray(0, buf.byteLength - 32);
  if (!createHash('sha256').update(body).digest().equals(buf.subarray(buf.byteLength - 32))) throw fail('is truncated or corrupt (checksum mismatch)');
  const hlen = buf.readUInt32LE(8);
  const header = JSON.parse(buf.toString('utf8', 12, 12 + hlen)) as ExampleCacheHeader;
  if (expectedKey && header.key !== expectedKey) throw fail('is stale (built from other data or settings)');
  const n = header.count * header.seqLen;
  let off = align8(12 + hlen);
  const take = (bytes: number) => {
    const start = off;
    off += align8(bytes);
    if (off > body.byteLength) throw fail(`is shorter than its header implies`);
    // Copy into aligned memory: a Buffer's offset need not be aligned.
    return new Uint8Array(body.subarray(start, start + bytes)).buffer;
  };
  const ids = new Int32Array(take(n * 4));
  const tokenTypes = new Uint8Array(take(n));
  const lengths = new Int32Array(take(header.count * 4));
  const labels = new Int32Array(take(header.count * 4));
  if (off !== body.byteLength) throw fail(`has ${body.byteLength} bytes where the header implies ${off}`);
  return { header, ids, tokenTypes, lengths, labels };
}

/** The cache, or why it cannot be used (absent, stale, corrupt). */
export function tryReadExampleCache(path: string, key: string): { examples?: Examples; reason?: string } {
  if (!existsSync(path)) return { reason: 'absent' };
  try {
    return { examples: readExampleCache(path, key) };
  } catch (e) {
    return { reason: (e as Error).message };
  }
}
