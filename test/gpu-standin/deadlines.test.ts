/**
 * Nothing in the nccl backend waits without a deadline: NCCL init (polled,
 * non-blocking), every operation, and finalize at destroy; NCCL's
 * asynchronous errors end operations at once, with ncclGetLastError's text.
 * Failures are injected into the NCCL stand-in (native/standin/README.md).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eventsOf, leftoverSegments, report, runWorld } from './standin.ts';

const phases = (w: Awaited<ReturnType<typeof runWorld>>, rank: number) =>
  eventsOf(w, rank).map((e) => e.ev).filter((e) => ['initDone', 'finalize', 'finalizeDone', 'destroy', 'abort'].includes(e));

describe('nccl deadlines (stand-in)', { concurrency: true }, () => {
  it('an init that never completes fails at its deadline on every rank, and is aborted', async () => {
    const before = leftoverSegments();
    const w = await runWorld({
      scenario: 'initHang', args: { nccl: { initTimeoutMs: 1500 }, lingerMs: 800 },
      env: { GP_STANDIN_NCCL_INIT: 'hang', GP_STANDIN_NCCL_FAIL_RANK: '1' },
    });
    for (const r of [0, 1]) {
      const e = report(w, r, 'error');
      assert.equal(e.code, 'TIMEOUT', e.message);
      assert.match(e.message, /NCCL communicator init did not complete within 1500 ms \(communicator aborted\)/);
      assert.ok(e.ms >= 1400, `failed after ${e.ms} ms, before its deadline`);
      assert.deepEqual(phases(w, r), ['abort']);
    }
    assert.deepEqual(leftoverSegments().filter((s) => !before.includes(s)), []);
  });

  it('an operation nobody answers times out and aborts; the idle peer\'s finalize meets its deadline and aborts too', async () => {
    const w = await runWorld({
      scenario: 'unanswered',
      args: { timeoutMs: 1000, idleMs: 1500, lingerMs: 2000, nccl: { finalizeTimeoutMs: 1000 } },
    });
    const e = report(w, 0, 'error');
    assert.equal(e.code, 'TIMEOUT', e.message);
    assert.match(e.message, /allReduce #1 did not complete within 1000 ms \(communicator aborted\)/);
    assert.ok(e.ms >= 950 && e.ms < 1000 + 5000, `timed out after ${e.ms} ms`);
    assert.deepEqual(phases(w, 0), ['initDone', 'abort']);
    // Rank 1 did nothing wrong, so it tries to finalize; rank 0 never will.
    const closed = report(w, 1, 'result').value.closed;
    assert.equal(closed.finalized, false);
    assert.match(closed.how, /aborted: ncclCommFinalize did not complete within 1000 ms/);
    assert.deepEqual(phases(w, 1), ['initDone', 'finalize', 'abort']);
  });

  it('an asynchronous NCCL error fails the operation with ncclGetLastError in the message; the peer sees it die', async () => {
    const w = await runWorld({
      scenario: 'asyncError', args: { timeoutMs: 60_000 },
      env: { GP_STANDIN_NCCL_ASYNC_ERROR_AT: '1', GP_STANDIN_NCCL_FAIL_RANK: '1' },
    });
    const own = report(w, 1, 'error');
    assert.equal(own.code, 'PEER_DIED', own.message);
    assert.match(own.message, /NCCL reported an asynchronous error: remote process exited or there was a network error: stand-in: injected failure in collective #1/);
    assert.deepEqual(phases(w, 1), ['initDone', 'abort']);
    // Rank 1 left on its error (destroy({ abort: true })): rank 0 names it.
    const peer = report(w, 0, 'error');
    assert.equal(peer.code, 'PEER_DIED', peer.message);
    assert.equal(peer.rank, 1);
    assert.ok(peer.ms < 30_000, `noticed after ${peer.ms} ms, not by the 60 s deadline`);
  });

  it('an abort request ends a pending init at once (AbortSignal)', async () => {
    const w = await runWorld({
      scenario: 'initAbort', args: { abortAfterMs: 300, nccl: { initTimeoutMs: 60_000 } },
      env: { GP_STANDIN_NCCL_INIT: 'hang' },
    });
    for (const r of [0, 1]) {
      const e = report(w, r, 'error');
      assert.equal(e.code, 'ABORTED', e.message);
      assert.match(e.message, /init aborted: test: abort during init/);
      assert.ok(e.ms < 30_000, `aborted after ${e.ms} ms`);
      // Aborted during NCCL's init (the communicator is aborted), or, on a slow machine, still in the
      // rendezvous round before it (nothing to abort yet): either way at once, never at a deadline.
      assert.ok(['abort', ''].includes(phases(w, r).join()), `phases: ${phases(w, r).join()}`);
    }
  });
});
