/** Field checks every family's resolve() shares, each naming the file and field. */

export function checkPositiveInts(cfg: Record<string, unknown>, keys: string[], source: string): void {
  for (const k of keys) {
    const v = cfg[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
      throw new Error(`${source}: ${k} must be a positive integer, got ${JSON.stringify(v)}`);
    }
  }
}

export function checkProbabilities(cfg: Record<string, unknown>, keys: string[], source: string): void {
  for (const k of keys) {
    const v = cfg[k];
    if (typeof v !== 'number' || v < 0 || v >= 1) throw new Error(`${source}: ${k} must be in [0, 1), got ${JSON.stringify(v)}`);
  }
}

export function checkPositive(cfg: Record<string, unknown>, keys: string[], source: string): void {
  for (const k of keys) {
    const v = cfg[k];
    if (typeof v !== 'number' || !(v > 0)) throw new Error(`${source}: ${k} must be a positive number, got ${JSON.stringify(v)}`);
  }
}

export function checkHeads(cfg: Record<string, unknown>, source: string, hiddenKey = 'hidden_size', headsKey = 'num_attention_heads'): void {
  if ((cfg[hiddenKey] as number) % (cfg[headsKey] as number) !== 0) {
    throw new Error(`${source}: ${hiddenKey} ${cfg[hiddenKey]} is not a multiple of ${headsKey} ${cfg[headsKey]}`);
  }
}

/** Only the erf GELU ("gelu") is implemented; the tanh forms are refused rather than approximated. */
export function checkGelu(cfg: Record<string, unknown>, key: string, source: string): void {
  if (cfg[key] !== 'gelu') throw new Error(`${source}: ${key} ${JSON.stringify(cfg[key])} is not supported (only "gelu", the erf GELU)`);
}

export function checkTokenId(cfg: Record<string, unknown>, key: string, source: string): void {
  const v = cfg[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= (cfg.vocab_size as number)) {
    throw new Error(`${source}: ${key} ${JSON.stringify(v)} is outside the vocabulary`);
  }
}

export function withDefaults(raw: Record<string, unknown>, defaults: Record<string, unknown>): Record<string, unknown> {
  const cfg = { ...raw };
  for (const [k, v] of Object.entries(defaults)) if (cfg[k] === undefined || cfg[k] === null) cfg[k] = v;
  return cfg;
}

/** Config fields that are ours, not Hugging Face's: never written to config.json. */
export function withoutKeys(c: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  const out = { ...c };
  for (const k of keys) delete out[k];
  return out;
}
