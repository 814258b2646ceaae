import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PoolDriver } from './driver.ts';

test('3 workers, 3 world-size-1 jobs submitted together: all three start at once, on different workers', () => {
  const pool = new PoolDriver(3);
  pool.add('a');
  pool.add('b');
  pool.add('c');
  assert.deepEqual(pool.running(), ['a', 'b', 'c']);
  const used = pool.starts().flatMap((s) => s.workers);
  assert.deepEqual([...used].sort(), ['w0', 'w1', 'w2']);
  assert.deepEqual(pool.queued(), []);
});

test('3 workers: a world-size-2 and a world-size-1 job run at once', () => {
  const pool = new PoolDriver(3);
  pool.add('pair', { worldSizes: [2] });
  pool.add('single', { worldSizes: [1] });
  assert.deepEqual(pool.running(), ['pair', 'single']);
  assert.equal(pool.lastStart('pair').worldSize, 2);
  assert.equal(pool.lastStart('pair').workers.length, 2);
  assert.equal(new Set([...pool.lastStart('pair').workers, ...pool.lastStart('single').workers]).size, 3);
});

test('all or none: a gang never starts on part of its workers; it starts once all are free', () => {
  const pool = new PoolDriver(3);
  pool.add('a');
  pool.add('gang', { worldSizes: [3] });
  assert.deepEqual(pool.running(), ['a']);
  assert.equal(pool.starts('gang').length, 0);
  pool.at(1000).end('a', 'completed');
  assert.deepEqual(pool.running(), ['gang']);
  assert.equal(pool.lastStart('gang').workers.length, 3);
});

test('a gang larger than the whole pool waits without holding up the runs behind it, and starts when workers join', () => {
  const pool = new PoolDriver(2);
  pool.add('huge', { worldSizes: [4] });
  pool.add('small');
  assert.deepEqual(pool.running(), ['small']);
  pool.join('w2');
  pool.join('w3');
  assert.deepEqual(pool.running(), ['small'], 'not all four free yet');
  pool.at(10).end('small', 'completed');
  assert.deepEqual(pool.running(), ['huge']);
});

test('gangs go on as few hosts as possible: best fit for one host, fullest hosts first across hosts', () => {
  const hosts = [
    ...['a0', 'a1', 'a2', 'a3'].map((id) => ({ id, host: 'A' })),
    ...['b0', 'b1'].map((id) => ({ id, host: 'B' })),
    ...['c0', 'c1', 'c2'].map((id) => ({ id, host: 'C' })),
  ];
  const pool = new PoolDriver(hosts);
  pool.add('two', { worldSizes: [2] });
  assert.deepEqual(pool.lastStart('two').workers, ['b0', 'b1'], 'the smallest host that holds it');
  pool.add('three', { worldSizes: [3] });
  assert.deepEqual(pool.lastStart('three').workers, ['c0', 'c1', 'c2']);
  pool.at(1).end('two', 'completed');
  pool.end('three', 'completed');
  pool.add('six', { worldSizes: [6] });
  const onHosts = new Set(pool.lastStart('six').workers.map((w) => w[0]));
  assert.deepEqual([...onHosts].sort(), ['a', 'c'], 'the two fullest hosts (4 + 3), not B');
});

test('a finished run frees its workers for the next in line', () => {
  const pool = new PoolDriver(1);
  pool.add('first');
  pool.add('second');
  assert.deepEqual(pool.running(), ['first']);
  pool.at(5).end('first', 'completed');
  assert.deepEqual(pool.running(), ['second']);
  assert.deepEqual(pool.of('finished', 'first').map((d) => d.state), ['COMPLETED']);
});
