/**
 * Python pickle (protocol 2), only as much as PyTorch checkpoints need:
 * dicts (as Map, which keeps int keys and order), lists, tuples, str, int,
 * float, bool, None, and tensors as persistent references to zip entries.
 */
export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}
/** A Python float that happens to hold an integer value (JS numbers cannot say). */
export class PyFloat {
  constructor(readonly value: number) {}
}
export interface PyGlobal {
  global: string;
}
/** A tensor by storage key: the writer's input and the reader's output before rebuilding. */
export interface TensorRecord {
  tensor: { dtype: string; key: string; shape: number[]; stride: number[]; offset: number; numel: number };
}
export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | PyFloat
  | PyTuple
  | PyValue[]
  | Map<PyValue, PyValue>
  | PyGlobal
  | TensorRecord
  | unknown;

const enc = new TextEncoder();

export class PickleWriter {
  private parts: number[] = [];
  private bytes: Uint8Array[] = [];

  private op(...b: number[]): void {
    this.parts.push(...b);
  }
  private flushOps(): void {
    if (this.parts.length) {
      this.bytes.push(Uint8Array.from(this.parts));
      this.parts = [];
    }
  }
  private raw(b: Uint8Array): void {
    this.flushOps();
    this.bytes.push(b);
  }
  private u32(n: number): number[] {
    return [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255];
  }

  global(module: string, name: string): void {
    this.op(0x63); // GLOBAL
    this.raw(enc.encode(`${module}\n${name}\n`));
  }

  str(s: string): void {
    const b = enc.encode(s);
    this.op(0x58, ...this.u32(b.byteLength)); // BINUNICODE
    this.raw(b);
  }

  int(n: number): void {
    if (n >= 0 && n < 256) this.op(0x4b, n); // BININT1
    else if (n >= -0x80000000 && n <= 0x7fffffff) this.op(0x4a, ...this.u32(n)); // BININT
    else {
      // LONG1: little-endian two's complement
      let v = BigInt(n);
      const out: number[] = [];
      while (v !== 0n && v !== -1n) {
        out.push(Number(v & 255n));
        v >>= 8n;
      }
      if (out.length === 0 || (n < 0 ? (out[out.length - 1]! & 0x80) === 0 : (out[out.length - 1]! & 0x80) !== 0)) out.push(n < 0 ? 255 : 0);
      this.op(0x8a, out.length, ...out);
    }
  }

  float(x: number): void {
    const b = Buffer.alloc(9);
    b[0] = 0x47; // BINFLOAT, big-endian double
    b.writeDoubleBE(x, 1);
    this.raw(b);
  }

  value(v: PyValue): void {
    if (v === null || v === undefined) this.op(0x4e);
    else if (v === true) this.op(0x88);
    else if (v === false) this.op(0x89);
    else if (typeof v === 'number') Number.isInteger(v) ? this.int(v) : this.float(v);
    else if (v instanceof PyFloat) this.float(v.value);
    else if (typeof v === 'string') this.str(v);
    else if (v instanceof PyTuple) {
      this.op(0x28);
      for (const x of v.items) this.value(x);
      this.op(0x74); // TUPLE
    } else if (Array.isArray(v)) {
      this.op(0x5d, 0x28); // EMPTY_LIST MARK
      for (const x of v) this.value(x);
      this.op(0x65); // APPENDS
    } else if (v instanceof Map) {
      this.global('collections', 'OrderedDict');
      this.op(0x29, 0x52); // EMPTY_TUPLE REDUCE
      if (v.size) {
        this.op(0x28);
        for (const [k, x] of v) {
          this.value(k);
          this.value(x);
        }
        this.op(0x75); // SETITEMS
      }
    } else if (typeof v === 'object' && 'tensor' in (v as object)) {
      this.tensor((v as TensorRecord).tensor);
    } else if (typeof v === 'object') {
      this.op(0x7d); // EMPTY_DICT
      const entries = Object.entries(v as Record<string, PyValue>);
      if (entries.length) {
        this.op(0x28);
        for (const [k, x] of entries) {
          this.str(k);
          this.value(x);
        }
        this.op(0x75);
      }
    } else throw new Error(`cannot pickle ${typeof v}`);
  }

  /** torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, backward_hooks) */
  private tensor(t: TensorRecord['tensor']): void {
    this.global('torch._utils', '_rebuild_tensor_v2');
    this.op(0x28); // MARK args
    this.op(0x28); // MARK persistent id tuple
    this.str('storage');
    this.global('torch', t.dtype);
    this.str(t.key);
    this.str('cpu');
    this.int(t.numel);
    this.op(0x74, 0x51); // TUPLE BINPERSID
    this.int(t.offset);
    this.value(new PyTuple(t.shape));
    this.value(new PyTuple(t.stride));
    this.op(0x89); // requires_grad False
    this.global('collections', 'OrderedDict');
    this.op(0x29, 0x52);
    this.op(0x74, 0x52); // TUPLE REDUCE
  }

  finish(v: PyValue): Uint8Array {
    this.op(0x80, 2);
    this.value(v);
    this.op(0x2e); // STOP
    this.flushOps();
    return Buffer.concat(this.bytes);
  }
}

interface Reduce {
  reduce: string;
  args: PyValue[];
}

/** Reads the subset above, plus what torch.save emits for state dicts. */
export function unpickle(buf: Buffer, source: string): PyValue {
  const stack: PyValue[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PyValue>();
  let p = 0;
  const popMark = (): PyValue[] => {
    const m = marks.pop();
    if (m === undefined) throw new Error(`${source}: pickle MARK missing`);
    return stack.splice(m);
  };
  const construct = (fn: PyValue, args: PyValue[]): PyValue => {
    const name = (fn as PyGlobal).global;
    switch (name) {
      case 'collections.OrderedDict':
        return new Map();
      case 'torch._utils._rebuild_tensor_v2': {
        const [storage, offset, size, stride] = args as [TensorRecord, number, PyTuple, PyTuple];
        return { tensor: { ...storage.tensor, offset, shape: size.items as number[], stride: stride.items as number[] } };
      }
      case 'torch._utils._rebuild_parameter':
        return args[0] ?? null;
      default:
        return { reduce: name, args } as Reduce;
    }
  };
  for (;;) {
    const op = buf[p++];
    switch (op) {
      case 0x80: p++; break; // PROTO
      case 0x2e: return stack.pop() ?? null; // STOP
      case 0x28: marks.push(stack.length); break; // MARK
      case 0x4e: stack.push(null); break;
      case 0x88: stack.push(true); break;
      case 0x89: stack.push(false); break;
      case 0x29: stack.push(new PyTuple([])); break;
      case 0x5d: stack.push([]); break;
      case 0x7d: stack.push(new Map()); break;
      case 0x4b: stack.push(buf[p++]!); break;
      case 0x4d: stack.push(buf.readUInt16LE(p)); p += 2; break;
      case 0x4a: stack.push(buf.readInt32LE(p)); p += 4; break;
      case 0x8a: { // LONG1
        const n = buf[p++]!;
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(buf[p + i]!);
        if (n && buf[p + n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
        p += n;
        stack.push(Number(v));
        break;
      }
      case 0x47: stack.push(buf.readDoubleBE(p)); p += 8; break;
      case 0x58: { const n = buf.readUInt32LE(p); stack.push(buf.toString('utf8', p + 4, p + 4 + n)); p += 4 + n; break; }
      case 0x8c: { const n = buf[p]!; stack.push(buf.toString('utf8', p + 1, p + 1 + n)); p += 1 + n; break; } // SHORT_BINUNICODE
      case 0x54: { const n = buf.readUInt32LE(p); stack.push(buf.toString('latin1', p + 4, p + 4 + n)); p += 4 + n; break; } // BINSTRING
      case 0x55: { const n = buf[p]!; stack.push(buf.toString('latin1', p + 1, p + 1 + n)); p += 1 + n; break; } // SHORT_BINSTRING
      case 0x63: { // GLOBAL
        const nl1 = buf.indexOf(10, p);
        const nl2 = buf.indexOf(10, nl1 + 1);
        stack.push({ global: `${buf.toString('utf8', p, nl1)}.${buf.toString('utf8', nl1 + 1, nl2)}` });
        p = nl2 + 1;
        break;
      }
      case 0x71: memo.set(buf[p++]!, stack[stack.length - 1]); break; // BINPUT
      case 0x72: memo.set(buf.readUInt32LE(p), stack[stack.length - 1]); p += 4; break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, stack[stack.length - 1]); break; // MEMOIZE
      case 0x68: stack.push(memo.get(buf[p++]!)); break; // BINGET
      case 0x6a: stack.push(memo.get(buf.readUInt32LE(p))); p += 4; break; // LONG_BINGET
      case 0x74: stack.push(new PyTuple(popMark())); break;
      case 0x85: stack.push(new PyTuple([stack.pop()])); break;
      case 0x86: { const b = stack.pop(); const a = stack.pop(); stack.push(new PyTuple([a, b])); break; }
      case 0x87: { const c = stack.pop(); const b = stack.pop(); const a = stack.pop(); stack.push(new PyTuple([a, b, c])); break; }
      case 0x52: { const args = stack.pop() as PyTuple; const fn = stack.pop(); stack.push(construct(fn, args.items)); break; }
      case 0x62: stack.pop(); break; // BUILD: state (e.g. an OrderedDict's _metadata) is not needed
      case 0x51: { // BINPERSID
        const pid = (stack.pop() as PyTuple).items as [string, PyGlobal, string, string, number];
        stack.push({ tensor: { dtype: pid[1].global.replace(/^torch\./, ''), key: pid[2], shape: [], stride: [], offset: 0, numel: pid[4] } });
        break;
      }
      case 0x73: { const v = stack.pop(); const k = stack.pop(); (stack[stack.length - 1] as Map<PyValue, PyValue>).set(k, v); break; }
      case 0x75: { // SETITEMS
        const items = popMark();
        const d = stack[stack.length - 1] as Map<PyValue, PyValue>;
        for (let i = 0; i < items.length; i += 2) d.set(items[i], items[i + 1]);
        break;
      }
      case 0x61: { const v = stack.pop(); (stack[stack.length - 1] as PyValue[]).push(v); break; }
      case 0x65: { const items = popMark(); (stack[stack.length - 1] as PyValue[]).push(...items); break; }
      default:
        throw new Error(`${source}: unsupported pickle opcode 0x${(op ?? 0).toString(16)} at byte ${p - 1}`);
    }
  }
}
