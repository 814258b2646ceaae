import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { crc32c, TensorBoardWriter } from '../../train/metrics/tensorboard.ts';
import { currentEvents, readEvents } from '../helpers/tfevents-reader.ts';
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

test('a restart marker (SessionLog START) makes TensorBoard drop the steps a crashed run logged past its checkpoint', () => {
  const dir = scratchDir('tb-restart');
  const crashed = new TensorBoardWriter(dir);
  for (let s = 1; s <= 5; s++) crashed.scalars(s, { 'train/loss': 10 - s });
  crashed.close();
  // The resumed process: a new file, after the first in name order (one second later in its timestamp).
  const resumed = new TensorBoardWriter(dir);
  resumed.restartAt(4, '/runs/x/checkpoints/step-0000003.pth');
  for (let s = 4; s <= 6; s++) resumed.scalars(s, { 'train/loss': 20 - s });
  resumed.close();
  const files = readdirSync(dir).sort();
  const events = files.flatMap((f) => readEvents(join(dir, f)));
  const marker = events.find((e) => e.sessionLog)!;
  assert.deepEqual([marker.step, marker.sessionLog], [4, { status: 1, checkpointPath: '/runs/x/checkpoints/step-0000003.pth' }]);
  const losses = currentEvents(events).filter((e) => 'train/loss' in e.scalars).map((e) => [e.step, e.scalars['train/loss']]);
  assert.deepEqual(losses, [[1, 9], [2, 8], [3, 7], [4, 16], [5, 15], [6, 14]]);
});
