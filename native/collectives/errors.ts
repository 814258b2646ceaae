/**
 * The one error type of the collectives layer. `code` says what kind of
 * failure it was and `rank` (when known) which rank caused it, so callers can
 * log "rank 2 died" or decide to rebuild the communicator without parsing text.
 */
export type CollectiveErrorCode =
  | 'TIMEOUT' // a peer did not arrive within timeoutMs
  | 'PEER_DIED' // a peer process is gone
  | 'ABORTED' // abort() was called here or on a peer
  | 'MISMATCH' // ranks disagree on op, length, root or world size
  | 'RESOURCE' // out of shared memory / device memory
  | 'UNAVAILABLE' // backend, library, device or the addon itself missing
  | 'BROKEN' // the communicator failed earlier; destroy and rebuild it
  | 'RENDEZVOUS' // Redis rendezvous failed or timed out
  | 'BACKEND'; // anything else reported by the underlying library

export class CollectiveError extends Error {
  override readonly name = 'CollectiveError';
  constructor(
    readonly code: CollectiveErrorCode,
    message: string,
    readonly rank?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const CODES = new Set<string>([
  'TIMEOUT', 'PEER_DIED', 'ABORTED', 'MISMATCH', 'RESOURCE', 'UNAVAILABLE', 'BROKEN', 'RENDEZVOUS', 'BACKEND',
]);

/** Wraps an error thrown by the addon (which sets `code` and `rank`). */
export function fromNative(err: unknown, context?: string): CollectiveError {
  if (err instanceof CollectiveError) return err;
  const e = err as { message?: string; code?: unknown; rank?: unknown };
  const code = typeof e?.code === 'string' && CODES.has(e.code) ? (e.code as CollectiveErrorCode) : 'BACKEND';
  const rank = typeof e?.rank === 'number' ? e.rank : undefined;
  const msg = e?.message ?? String(err);
  return new CollectiveError(code, context ? `${context}: ${msg}` : msg, rank, { cause: err });
}
