import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

/**
 * TensorBoard event files without TensorFlow: TFRecord framing (length,
 * masked CRC32C of the length, an Event protobuf, masked CRC32C of the
 * data) and the few protobuf fields scalars and text need:
 *   Event { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; SessionLog session_log = 7; }
 *   Summary { repeated Value value = 1; }
 *   Value { string tag = 1; float simple_value = 2; TensorProto tensor = 8; SummaryMetadata metadata = 9; }
 *   text: metadata { plugin_data = 1 { plugin_name = 1: "text" } },
 *         tensor { dtype = 1: DT_STRING (7); tensor_shape = 2: {} (a scalar); string_val = 8: the markdown }
 *   SessionLog { SessionStatus status = 1 (START = 1); string checkpoint_path = 2; }
 */
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

export function crc32c(b: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export function maskedCrc(b: Uint8Array): number {
  const c = crc32c(b);
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

function varint(n: number | bigint): number[] {
  let v = BigInt(n);
  if (v < 0n) v += 1n << 64n;
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v) byte |= 0x80;
    out.push(byte);
  } while (v);
  return out;
}

function field(num: number, wire: number): number[] {
  return varint((num << 3) | wire);
}

function lengthDelimited(num: number, body: Uint8Array): number[] {
  return [...field(num, 2), ...varint(body.length), ...body];
}

/** SessionLog.status START: TensorBoard drops the events at this step and later that it read before it. */
const SESSION_START = 1;

function textValue(tag: string, markdown: string): number[] {
  const metadata = lengthDelimited(1, Uint8Array.from(lengthDelimited(1, Buffer.from('text'))));
  const tensor = [...field(1, 0), ...varint(7), ...lengthDelimited(2, new Uint8Array(0)), ...lengthDelimited(8, Buffer.from(markdown))];
  return [...lengthDelimited(1, Buffer.from(tag)), ...lengthDelimited(8, Uint8Array.from(tensor)), ...lengthDelimited(9, Uint8Array.from(metadata))];
}

function encodeEvent(
  wallTime: number,
  step: number,
  body: { fileVersion?: string; scalars?: Array<[string, number]>; text?: [string, string]; sessionStart?: string },
): Uint8Array {
  const out: number[] = [];
  const wt = Buffer.alloc(8);
  wt.writeDoubleLE(wallTime);
  out.push(...field(1, 1), ...wt);
  out.push(...field(2, 0), ...varint(step));
  if (body.fileVersion) out.push(...lengthDelimited(3, Buffer.from(body.fileVersion)));
  if (body.scalars) {
    const summary: number[] = [];
    for (const [tag, v] of body.scalars) {
      const f = Buffer.alloc(4);
      f.writeFloatLE(v);
      const value = [...lengthDelimited(1, Buffer.from(tag)), ...field(2, 5), ...f];
      summary.push(...lengthDelimited(1, Uint8Array.from(value)));
    }
    out.push(...lengthDelimited(5, Uint8Array.from(summary)));
  }
  if (body.sessionStart !== undefined) {
    // SessionLog { SessionStatus status = 1; string checkpoint_path = 2; }
    const log = [...field(1, 0), ...varint(SESSION_START), ...lengthDelimited(2, Buffer.from(body.sessionStart))];
    out.push(...lengthDelimited(7, Uint8Array.from(log)));
  }
  if (body.text) out.push(...lengthDelimited(5, Uint8Array.from(lengthDelimited(1, Uint8Array.from(textValue(...body.text))))));
  return Uint8Array.from(out);
}

export function tfRecord(data: Uint8Array): Buffer {
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(data.length));
  const head = Buffer.alloc(4);
  head.writeUInt32LE(maskedCrc(len));
  const tail = Buffer.alloc(4);
  tail.writeUInt32LE(maskedCrc(data));
  return Buffer.concat([len, head, data, tail]);
}

/** Appends scalars to one events.out.tfevents.* file; each write is flushed so a crash loses nothing. */
export class TensorBoardWriter {
  readonly path: string;
  private fd: number;

  constructor(dir: string) {
    mkdirSync(dir, { recursive: true });
    this.path = join(dir, `events.out.tfevents.${Math.floor(Date.now() / 1000)}.${hostname()}.${process.pid}`);
    this.fd = openSync(this.path, 'a');
    this.write(encodeEvent(Date.now() / 1000, 0, { fileVersion: 'brain.Event:2' }));
  }

  scalars(step: number, values: Record<string, number>): void {
    const finite = Object.entries(values).filter(([, v]) => Number.isFinite(v));
    if (finite.length) this.write(encodeEvent(Date.now() / 1000, step, { scalars: finite }));
  }

  /**
   * A restart from a checkpoint: TensorBoard's purge (a SessionLog START at
   * `step`) discards the steps from `step` on that a crashed run logged, so
   * the redone steps replace them instead of drawing a second line.
   */
  restartAt(step: number, checkpointPath: string): void {
    this.write(encodeEvent(Date.now() / 1000, step, { sessionStart: checkpointPath }));
  }

  /** A markdown text (TensorBoard's Text tab), e.g. a confusion matrix. */
  text(step: number, tag: string, markdown: string): void {
    this.write(encodeEvent(Date.now() / 1000, step, { text: [tag, markdown] }));
  }

  private write(event: Uint8Array): void {
    writeSync(this.fd, tfRecord(event));
  }

  close(): void {
    if (this.fd < 0) return;
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = -1;
  }
}
