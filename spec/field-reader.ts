/**
 * Reading a parsed job field by field: every problem is collected with its
 * field path (one pass reports them all), and each field falls back to its
 * default so reading can go on after a problem.
 */
/** Thrown with every problem of a job spec, each prefixed by its field path. */
export class JobSpecError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`${source}: invalid job\n  ${problems.join('\n  ')}`);
  }
}

export type Obj = Record<string, unknown>;

/** A value as the user wrote it: YAML's .nan and .inf are NaN and Infinity, which JSON would print as null. */
export function shown(v: unknown): string {
  if (typeof v === 'number' && !Number.isFinite(v)) return Number.isNaN(v) ? '.nan (NaN)' : v > 0 ? '.inf (Infinity)' : '-.inf (-Infinity)';
  return JSON.stringify(v) ?? String(v);
}

/** Collects problems while reading fields, so one pass reports them all. */
export class Reader {
  readonly problems: string[] = [];

  obj(v: unknown, path: string): Obj {
    if (v === undefined || v === null) return {};
    if (typeof v !== 'object' || Array.isArray(v)) {
      this.problems.push(`${path}: must be a mapping`);
      return {};
    }
    return v as Obj;
  }

  unknownKeys(o: Obj, path: string, allowed: readonly string[]): void {
    for (const k of Object.keys(o)) {
      if (!allowed.includes(k)) this.problems.push(`${path ? `${path}.` : ''}${k}: unknown field (expected one of ${allowed.join(', ')})`);
    }
  }

  str(o: Obj, key: string, path: string, def: string): string {
    const v = o[key];
    if (v === undefined || v === null) return def;
    if (typeof v !== 'string') {
      this.problems.push(`${path}.${key}: must be a string, got ${shown(v)}`);
      return def;
    }
    return v;
  }

  strList(o: Obj, key: string, path: string): string[] {
    const v = o[key];
    if (v === undefined || v === null) return [];
    const list = typeof v === 'string' ? [v] : v;
    if (!Array.isArray(list) || list.some((x) => typeof x !== 'string')) {
      this.problems.push(`${path}.${key}: must be a file path or a list of them`);
      return [];
    }
    return list as string[];
  }

  num(o: Obj, key: string, path: string, def: number, check: (n: number) => string | null): number {
    const v = o[key];
    if (v === undefined || v === null) return def;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      this.problems.push(`${path}.${key}: must be a finite number, got ${shown(v)}`);
      return def;
    }
    const why = check(v);
    if (why) this.problems.push(`${path}.${key}: ${why}, got ${v}`);
    return v;
  }

  bool(o: Obj, key: string, path: string, def: boolean): boolean {
    const v = o[key];
    if (v === undefined || v === null) return def;
    if (typeof v !== 'boolean') {
      this.problems.push(`${path}.${key}: must be true or false, got ${shown(v)}`);
      return def;
    }
    return v;
  }

  oneOf<T extends string>(o: Obj, key: string, path: string, def: T, options: readonly T[]): T {
    const v = this.str(o, key, path, def);
    if (!options.includes(v as T)) {
      this.problems.push(`${path}.${key}: must be one of ${options.join(', ')}, got ${shown(v)}`);
      return def;
    }
    return v as T;
  }
}

export const positiveInt = (n: number) => (Number.isInteger(n) && n > 0 ? null : 'must be a positive integer');
export const nonNegInt = (n: number) => (Number.isInteger(n) && n >= 0 ? null : 'must be an integer ≥ 0');
export const nonNeg = (n: number) => (n >= 0 ? null : 'must be ≥ 0');
export const positive = (n: number) => (n > 0 ? null : 'must be > 0');
export const fraction = (n: number) => (n >= 0 && n < 1 ? null : 'must be in [0, 1)');
export const probability = (n: number) => (n > 0 && n < 1 ? null : 'must be in (0, 1)');
