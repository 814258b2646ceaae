import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { crc32c, TensorBoardWriter } from '../../train/metrics/tensorboard.ts';
import { readEvents } from '../helpers/tfevents-reader.ts';
import { scratchDir } from '../helpers/torch-reference.ts';

test('CRC32C matches the published check values (RFC 3720 / iSCSI)', () => {
  // Independent of our writer and reader, which share this function.
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
});

test('scalars written are read back with their steps, tags and float32 values', () => {
  const dir = scratchDir('tb');
  const w = new TensorBoardWriter(dir);
  w.scalars(1, { 'train/loss': 7.25, 'train/lr': 1e-4 });
  w.scalars(2, { 'train/loss': 6.5, skipped: NaN });
  w.close();
  const [file] = readdirSync(dir);
  assert.match(file!, /^events\.out\.tfevents\.\d+\./);
  const events = readEvents(join(dir, file!));
  assert.equal(events.length, 3);
  assert.equal(events[0]!.fileVersion, 'brain.Event:2');
  assert.deepEqual(events[1]!.scalars, { 'train/loss': 7.25, 'train/lr': Math.fround(1e-4) });
  assert.deepEqual([events[2]!.step, events[2]!.scalars], [2, { 'train/loss': 6.5 }]);
});
