/**
 * Failures in the middle of operations, through the NCCL stand-in: a peer
 * that vanishes (noticed by the liveness check within seconds, not at the
 * operation's deadline), abort() from JS and through the C ABI, abort()
 * racing the start of operations, and destroy when a peer is gone.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eventsOf, report, runWorld, violations } from './standin.ts';

describe('nccl aborts (stand-in)', { concurrency: true }, () => {
  it('a peer killed inside an all-reduce is named within seconds; destroy aborts', async () => {
    const w = await runWorld({
      scenario: 'peerExit', args: { timeoutMs: 60_000 },
      env: { GP_STANDIN_NCCL_EXIT_AT: '3', GP_STANDIN_NCCL_FAIL_RANK: '1' },
    });
    assert.equal(w.exits[1], null, 'rank 1 was killed by a signal');
    const e = report(w, 0, 'error');
    assert.equal(e.code, 'PEER_DIED', e.message);
    assert.equal(e.rank, 1);
    assert.match(e.message, /rank 1 \(pid \d+\) is no longer running \(communicator aborted\)/);
    // The liveness check runs every 2 s while an operation is pending; the deadline is 60 s.
    assert.ok(e.ms < 15_000, `noticed after ${e.ms} ms`);
    const d = report(w, 0, 'result').value;
    assert.equal(d.closed.finalized, false);
    assert.ok(eventsOf(w, 0, 'abort').length === 1);
  });

  it('through the C ABI: pending bucket all-reduces fail, the first naming the dead rank', async () => {
    const w = await runWorld({
      scenario: 'peerExitAbi', args: { timeoutMs: 60_000, buckets: [1000, 2000, 3000] },
      env: { GP_STANDIN_NCCL_EXIT_AT: '1', GP_STANDIN_NCCL_FAIL_RANK: '1' },
    });
    const v = report(w, 0, 'result').value;
    assert.equal(v.statuses.includes('OK'), false, JSON.stringify(v.statuses));
    const died = v.statuses.indexOf('PEER_DIED');
    assert.ok(died >= 0, JSON.stringify(v));
    assert.equal(v.ranks[died], 1);
    assert.match(v.messages[died], /rank 1 \(pid \d+\) is no longer running/);
  });

  for (const viaAbi of [false, true]) {
    it(`abort() ${viaAbi ? 'through the C ABI' : 'from JS'} ends a pending operation at once; later ones are BROKEN`, async () => {
      const w = await runWorld({ scenario: 'abortOp', args: { idleMs: 4000, abortAfterMs: 300, viaAbi, timeoutMs: 60_000 } });
      const [first, later] = w.reports[0]!.filter((m) => m.type === 'error');
      assert.ok(first?.type === 'error' && later?.type === 'error', JSON.stringify(w.reports[0]));
      assert.equal(first.code, 'ABORTED', first.message);
      assert.match(first.message, viaAbi ? /test: abort through the C ABI/ : /test: abort from JS/);
      assert.ok(first.ms < 4000, `aborted after ${first.ms} ms, not before the peer would have come`);
      assert.equal(later.code, 'BROKEN');
      assert.deepEqual(eventsOf(w, 0, 'abort').length, 1);
    });
  }

  it('abort() racing the start of operations never touches an aborted communicator', async () => {
    const w = await runWorld({ scenario: 'abortRace', world: 1, args: { rounds: 24 } });
    const outcomes = report(w, 0, 'result').value as Record<string, number>;
    assert.equal(Object.values(outcomes).reduce((a, b) => a + b, 0), 72);
    for (const k of Object.keys(outcomes)) assert.ok(['ok', 'ABORTED', 'BROKEN'].includes(k), k);
    assert.deepEqual(violations(w), []);
    // Each communicator ends once: aborted, or (an abort that came after destroy began) finalized.
    const ended = (ev: string) => w.events.filter((e) => e.ev === ev).length;
    assert.equal(ended('abort') + ended('destroy'), 24);
    assert.ok(ended('abort') >= 8, `only ${ended('abort')} of 24 rounds aborted`);
  });

  it('destroy when a peer has exited: aborts within seconds, without holding the event loop', async () => {
    const w = await runWorld({ scenario: 'destroyPeerGone' });
    const d = report(w, 0, 'result').value;
    assert.equal(d.closed.finalized, false);
    assert.match(d.closed.how, /rank 1 \(pid \d+\) is no longer running/);
    assert.ok(d.ms < 8000, `destroy took ${d.ms} ms (the finalize deadline is 10 s)`);
    assert.ok(d.ticks > 0, 'no timer ran while destroy was pending');
    assert.deepEqual(eventsOf(w, 0).map((e) => e.ev).filter((e) => ['finalize', 'abort', 'destroy'].includes(e)), ['finalize', 'abort']);
  });
});
