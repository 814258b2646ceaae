/** An engine ran out of memory; the trainer turns it into advice (smaller micro-batch). */
export class EngineOutOfMemoryError extends Error {
  override readonly name = 'EngineOutOfMemoryError';
}

/** Re-raises `e` as EngineOutOfMemoryError when its message is the engine's way of saying so. */
export function rethrowOutOfMemory(e: unknown, wording: RegExp): never {
  if (e instanceof Error && wording.test(e.message)) throw new EngineOutOfMemoryError(e.message, { cause: e });
  throw e;
}
