import { crc32 } from 'node:zlib';
import { CorruptFileError } from '../../common/read-file.ts';

/**
 * The subset of ZIP that PyTorch's checkpoint format uses: stored (not
 * compressed) entries, file data aligned to 64 bytes with padding in the
 * local header's extra field (as torch.save does, so it can mmap tensors).
 * No ZIP64: archives stay under 4 GiB (BERT-large with AdamW moments fits).
 * Reading checks every entry's CRC-32, so flipped bytes anywhere in the
 * data are refused, never trained on.
 */
const ALIGN = 64;

export interface ZipEntry {
  name: string;
  data: Uint8Array;
}

export function writeZip(entries: ZipEntry[]): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const crc = crc32(e.data) >>> 0;
    const headerLen = 30 + name.byteLength;
    // Extra field: id 0x4246 ("FB", as torch), then zero padding up to the alignment.
    let pad = (ALIGN - ((offset + headerLen + 4) % ALIGN)) % ALIGN;
    const extra = Buffer.alloc(4 + pad);
    extra.writeUInt16LE(0x4246, 0);
    extra.writeUInt16LE(pad, 2);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0, 6); // flags
    local.writeUInt16LE(0, 8); // stored
    local.writeUInt32LE(0, 10); // time/date
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(e.data.byteLength, 18);
    local.writeUInt32LE(e.data.byteLength, 22);
    local.writeUInt16LE(name.byteLength, 26);
    local.writeUInt16LE(extra.byteLength, 28);
    chunks.push(local, name, extra, e.data);
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE(20, 4);
    cd.writeUInt16LE(20, 6);
    cd.writeUInt16LE(0, 8);
    cd.writeUInt16LE(0, 10);
    cd.writeUInt32LE(0, 12);
    cd.writeUInt32LE(crc, 16);
    cd.writeUInt32LE(e.data.byteLength, 20);
    cd.writeUInt32LE(e.data.byteLength, 24);
    cd.writeUInt16LE(name.byteLength, 28);
    cd.writeUInt32LE(offset, 42);
    central.push(cd, name);
    offset += 30 + name.byteLength + extra.byteLength + e.data.byteLength;
    pad = 0;
    if (offset > 0xffffffff) throw new Error('checkpoint exceeds 4 GiB (ZIP64 is not supported)');
  }
  const cdSize = central.reduce((a, b) => a + b.byteLength, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cdSize, 12);
  end.writeUInt32LE(offset, 16);
  return [...chunks, ...central, end];
}

export function readZip(buf: Buffer, source: string): Map<string, Buffer> {
  let eocd = -1;
  for (let i = buf.byteLength - 22; i >= Math.max(0, buf.byteLength - 22 - 65535); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new CorruptFileError(source, 'not a zip archive (truncated, or a legacy non-zip torch file)');
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const out = new Map<string, Buffer>();
  for (let i = 0; i < count; i++) {
    if (p + 46 > buf.byteLength || buf.readUInt32LE(p) !== 0x02014b50) throw new CorruptFileError(source, 'damaged zip central directory');
    const method = buf.readUInt16LE(p + 10);
    const crc = buf.readUInt32LE(p + 16);
    const size = buf.readUInt32LE(p + 20);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    const local = buf.readUInt32LE(p + 42);
    const name = buf.toString('utf8', p + 46, p + 46 + nameLen);
    if (method !== 0) throw new Error(`${source}: entry ${name} is compressed (method ${method}); torch checkpoints are stored`);
    if (local + 30 > buf.byteLength || buf.readUInt32LE(local) !== 0x04034b50) throw new CorruptFileError(source, `entry ${name}: damaged local header`);
    const dataStart = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    if (dataStart + size > buf.byteLength) throw new CorruptFileError(source, `entry ${name} runs past the end (truncated file)`);
    const data = buf.subarray(dataStart, dataStart + size);
    if (crc32(data) >>> 0 !== crc) throw new CorruptFileError(source, `entry ${name} fails its CRC-32 check`);
    out.set(name, data);
    p += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}
