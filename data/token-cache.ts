import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, readSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describeWriteError, temporaryName } from '../common/atomic-write.ts';

/**
 * The binary token cache: a corpus tokenized once, reused by later runs and
 * by every rank. Layout (all little-endian, sections 8-byte aligned):
 *
 *   "GPTOKv01" | u32 header length | header JSON | tokens (u16 or i32)
 *   | word starts (u8, 1 = first piece of a word) | document offsets (f64, numDocs+1)
 *   | sha256 of everything before it
 *
 * The header carries the cache key (corpus content + tokenizer + reader
 * settings); a key mismatch, a short file or a bad checksum means stale or
 * truncated, and the cache is rebuilt rather than read.
 */
const MAGIC = 'GPTOKv01';

export interface TokenCacheHeader {
  key: string;
  numTokens: number;
  numDocs: number;
  tokenBytes: 2 | 4;
  vocabSize: number;
}

export class TokenCache {
  private constructor(
    readonly path: string,
    readonly header: TokenCacheHeader,
    readonly tokens: Uint16Array | Int32Array,
    readonly wordStarts: Uint8Array,
    readonly docOffsets: Float64Array,
  ) {}

  get numTokens(): number {
    return this.header.numTokens;
  }
  get numDocs(): number {
    return this.header.numDocs;
  }

  /** Opens and verifies a cache; throws (with the reason) if it is stale, truncated or corrupt. */
  static open(path: string, expectedKey?: string): TokenCache {
    const buf = readFileSync(path);
    const fail = (why: string) => new Error(`${path}: token cache ${why}`);
    if (buf.byteLength < 8 + 4 + 32 || buf.toString('latin1', 0, 8) !== MAGIC) throw fail('has no valid header');
    const body = buf.subarray(0, buf.byteLength - 32);
    const sum = createHash('sha256').update(body).digest();
    if (!sum.equals(buf.subarray(buf.byteLength - 32))) throw fail('is truncated or corrupt (checksum mismatch)');
    const hlen = buf.readUInt32LE(8);
    const header = JSON.parse(buf.toString('utf8', 12, 12 + hlen)) as TokenCacheHeader;
    if (expectedKey && header.key !== expectedKey) throw fail('is stale (built from other data or tokenizer)');
    let off = align8(12 + hlen);
    const { numTokens, numDocs, tokenBytes } = header;
    const expected = off + align8(numTokens * tokenBytes) + align8(numTokens) + (numDocs + 1) * 8;
    if (expected !== body.byteLength) throw fail(`has ${body.byteLength} bytes where the header implies ${expected}`);
    // Copy into aligned typed arrays (a Buffer's offset need not be aligned).
    const tokens =
      tokenBytes === 2
        ? new Uint16Array(body.buffer.slice(body.byteOffset + off, body.byteOffset + off + numTokens * 2))
        : new Int32Array(body.buffer.slice(body.byteOffset + off, body.byteOffset + off + numTokens * 4));
    off += align8(numTokens * tokenBytes);
    const wordStarts = new Uint8Array(body.buffer.slice(body.byteOffset + off, body.byteOffset + off + numTokens));
    off += align8(numTokens);
    const docOffsets = new Float64Array(body.buffer.slice(body.byteOffset + off, body.byteOffset + off + (numDocs + 1) * 8));
    return new TokenCache(path, header, tokens, wordStarts, docOffsets);
  }

  /** Opens the cache if it exists and is valid for `key`; null (with the reason) otherwise. */
  static tryOpen(path: string, key: string): { cache: TokenCache | null; reason: string } {
    if (!existsSync(path)) return { cache: null, reason: 'no cache yet' };
    try {
      return { cache: TokenCache.open(path, key), reason: 'reused' };
    } catch (e) {
      return { cache: null, reason: (e as Error).message };
    }
  }
}

function align8(n: number): number {
  return Math.ceil(n / 8) * 8;
}

/**
 * Streams tokens to disk as they come, so building a cache needs memory for
 * one flush and the document offsets, not for the corpus.
 */
export class TokenCacheWriter {
  private readonly tokTmp: string;
  private readonly wsTmp: string;
  private readonly tmp: string;
  private readonly tokFd: number;
  private readonly wsFd: number;
  private tokBuf: Uint16Array | Int32Array;
  private wsBuf = new Uint8Array(1 << 20);
  private fill = 0;
  private numTokens = 0;
  private docOffsets = new Float64Array(1024);
  private numDocs = 0;
  private readonly tokenBytes: 2 | 4;

  constructor(
    private readonly path: string,
    private readonly key: string,
    private readonly vocabSize: number,
  ) {
    this.tokenBytes = vocabSize <= 65536 ? 2 : 4;
    this.tokBuf = this.tokenBytes === 2 ? new Uint16Array(1 << 20) : new Int32Array(1 << 20);
    this.tokTmp = temporaryName(`${path}.tokens`);
    this.wsTmp = temporaryName(`${path}.words`);
    this.tmp = temporaryName(path);
    this.tokFd = openSync(this.tokTmp, 'w');
    this.wsFd = openSync(this.wsTmp, 'w');
  }

  addDocument(ids: number[], wordStarts: number[]): void {
    for (let i = 0; i < ids.length; i++) {
      this.tokBuf[this.fill] = ids[i]!;
      this.wsBuf[this.fill] = wordStarts[i]!;
      if (++this.fill === this.tokBuf.length) this.flush();
    }
    this.numTokens += ids.length;
    if (this.numDocs + 2 > this.docOffsets.length) {
      const grown = new Float64Array(this.docOffsets.length * 2);
      grown.set(this.docOffsets);
      this.docOffsets = grown;
    }
    this.numDocs++;
    this.docOffsets[this.numDocs] = this.numTokens;
  }

  private flush(): void {
    try {
      writeAll(this.tokFd, new Uint8Array(this.tokBuf.buffer, 0, this.fill * this.tokenBytes));
      writeAll(this.wsFd, this.wsBuf.subarray(0, this.fill));
    } catch (e) {
      throw describeWriteError(e as NodeJS.ErrnoException, this.path);
    }
    this.fill = 0;
  }

  /** Assembles the final file (temporary name, fsync, rename) and opens it; on a failed write nothing is left behind. */
  finish(): TokenCache {
    try {
      this.assemble();
    } catch (e) {
      this.abort();
      throw describeWriteError(e as NodeJS.ErrnoException, this.path, 8 * this.numTokens);
    }
    return TokenCache.open(this.path, this.key);
  }

  private assemble(): void {
    this.flush();
    closeSync(this.tokFd);
    closeSync(this.wsFd);
    const header: TokenCacheHeader = {
      key: this.key,
      numTokens: this.numTokens,
      numDocs: this.numDocs,
      tokenBytes: this.tokenBytes,
      vocabSize: this.vocabSize,
    };
    const tmp = this.tmp;
    const fd = openSync(tmp, 'w');
    try {
      this.writeFile(fd, header);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    unlinkSync(this.tokTmp);
    unlinkSync(this.wsTmp);
    renameSync(tmp, this.path);
    const dfd = openSync(dirname(this.path), 'r');
    fsyncSync(dfd);
    closeSync(dfd);
  }

  private writeFile(fd: number, header: TokenCacheHeader): void {
    const hash = createHash('sha256');
    const put = (b: Uint8Array) => {
      hash.update(b);
      writeAll(fd, b);
    };
    const pad = (n: number) => put(new Uint8Array(align8(n) - n));
    const hjson = Buffer.from(JSON.stringify(header), 'utf8');
    const head = Buffer.alloc(12);
    head.write(MAGIC, 0, 'latin1');
    head.writeUInt32LE(hjson.byteLength, 8);
    put(head);
    put(hjson);
    pad(12 + hjson.byteLength);
    copyInto(this.tokTmp, put);
    pad(this.numTokens * this.tokenBytes);
    copyInto(this.wsTmp, put);
    pad(this.numTokens);
    put(new Uint8Array(this.docOffsets.buffer, 0, (this.numDocs + 1) * 8));
    writeAll(fd, hash.digest());
  }

  /** Removes the temporary files after a failure. */
  abort(): void {
    for (const fd of [this.tokFd, this.wsFd]) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
    }
    for (const p of [this.tokTmp, this.wsTmp, this.tmp]) if (existsSync(p)) unlinkSync(p);
  }
}

function writeAll(fd: number, b: Uint8Array): void {
  let off = 0;
  while (off < b.byteLength) off += writeSync(fd, b, off, b.byteLength - off);
}

function copyInto(path: string, put: (b: Uint8Array) => void): void {
  const fd = openSync(path, 'r');
  const buf = Buffer.alloc(1 << 22);
  for (let n = readSync(fd, buf); n > 0; n = readSync(fd, buf)) put(buf.subarray(0, n));
  closeSync(fd);
}

export function cachePath(dir: string, key: string, split: string): string {
  return join(dir, `${key}.${split}.tokcache`);
}
