import { readFileSync } from 'node:fs';
import { maskedCrc } from '../../train/metrics/tensorboard.ts';

/**
 * An independent decoder for TensorBoard event files: TFRecord framing with
 * both CRCs checked, then the Event protobuf parsed field by field.
 */
export interface DecodedEvent {
  wallTime: number;
  step: number;
  fileVersion?: string;
  scalars: Record<string, number>;
  /** SessionLog { status = 1, checkpoint_path = 2 }, when the event is one. */
  sessionLog?: { status: number; checkpointPath: string };
  /** Text summaries (plugin "text"): tag → the string tensor's value. */
  texts: Record<string, string>;
}

function readVarint(b: Buffer, p: number): [bigint, number] {
  let v = 0n;
  let shift = 0n;
  for (;;) {
    const byte = b[p++]!;
    v |= BigInt(byte & 0x7f) << shift;
    if (!(byte & 0x80)) return [v, p];
    shift += 7n;
  }
}

function fields(b: Buffer): Array<{ num: number; wire: number; value: bigint | Buffer | number }> {
  const out: Array<{ num: number; wire: number; value: bigint | Buffer | number }> = [];
  let p = 0;
  while (p < b.length) {
    const [key, p1] = readVarint(b, p);
    p = p1;
    const num = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (wire === 0) {
      const [v, p2] = readVarint(b, p);
      out.push({ num, wire, value: v });
      p = p2;
    } else if (wire === 1) {
      out.push({ num, wire, value: b.readDoubleLE(p) });
      p += 8;
    } else if (wire === 5) {
      out.push({ num, wire, value: b.readFloatLE(p) });
      p += 4;
    } else if (wire === 2) {
      const [len, p2] = readVarint(b, p);
      out.push({ num, wire, value: b.subarray(p2, p2 + Number(len)) });
      p = p2 + Number(len);
    } else throw new Error(`wire type ${wire}`);
  }
  return out;
}

/**
 * What TensorBoard shows from events read in order: a SessionLog START at
 * step s purges the events at step s and later read before it (its
 * EventAccumulator's restart handling), so redone steps appear once.
 */
export function currentEvents(events: DecodedEvent[]): DecodedEvent[] {
  let out: DecodedEvent[] = [];
  for (const e of events) {
    if (e.sessionLog?.status === 1) out = out.filter((x) => x.step < e.step);
    else out.push(e);
  }
  return out;
}

export function readEvents(path: string): DecodedEvent[] {
  const b = readFileSync(path);
  const events: DecodedEvent[] = [];
  let p = 0;
  while (p < b.length) {
    const lenBytes = b.subarray(p, p + 8);
    if (b.readUInt32LE(p + 8) !== maskedCrc(lenBytes)) throw new Error(`bad length CRC at ${p}`);
    const len = Number(b.readBigUInt64LE(p));
    const data = b.subarray(p + 12, p + 12 + len);
    if (b.readUInt32LE(p + 12 + len) !== maskedCrc(data)) throw new Error(`bad data CRC at ${p}`);
    p += 16 + len;
    const ev: DecodedEvent = { wallTime: 0, step: 0, scalars: {}, texts: {} };
    for (const f of fields(data)) {
      if (f.num === 1) ev.wallTime = f.value as number;
      else if (f.num === 2) ev.step = Number(f.value as bigint);
      else if (f.num === 3) ev.fileVersion = (f.value as Buffer).toString();
      else if (f.num === 7) {
        const sf = fields(f.value as Buffer);
        ev.sessionLog = {
          status: Number((sf.find((x) => x.num === 1)?.value as bigint | undefined) ?? 0n),
          checkpointPath: (sf.find((x) => x.num === 2)?.value as Buffer | undefined)?.toString() ?? '',
        };
      }
      else if (f.num === 5) {
        for (const v of fields(f.value as Buffer)) {
          const vf = fields(v.value as Buffer);
          const tag = (vf.find((x) => x.num === 1)!.value as Buffer).toString();
          const simple = vf.find((x) => x.num === 2);
          if (simple) ev.scalars[tag] = simple.value as number;
          const tensor = vf.find((x) => x.num === 8);
          const plugin = vf.find((x) => x.num === 9);
          if (tensor && plugin) {
            const name = fields(fields(plugin.value as Buffer).find((x) => x.num === 1)!.value as Buffer).find((x) => x.num === 1)!.value as Buffer;
            const t = fields(tensor.value as Buffer);
            if (name.toString() !== 'text' || Number(t.find((x) => x.num === 1)!.value) !== 7) throw new Error(`${tag}: not a text summary`);
            ev.texts[tag] = (t.find((x) => x.num === 8)!.value as Buffer).toString();
          }
        }
      }
    }
    events.push(ev);
  }
  return events;
}
