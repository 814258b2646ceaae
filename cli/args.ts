/** Minimal argv parsing: positionals, `--flag`, `--key value` and `--key=value`. */
export interface Args {
  positional: string[];
  flags: Map<string, string | true>;
}

export function parseArgs(argv: string[], valued: readonly string[]): Args {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    if (eq > 0) flags.set(a.slice(2, eq), a.slice(eq + 1));
    else if (valued.includes(a.slice(2))) {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      flags.set(a.slice(2), v);
    } else flags.set(a.slice(2), true);
  }
  return { positional, flags };
}

export function flagString(a: Args, name: string): string | undefined {
  const v = a.flags.get(name);
  return typeof v === 'string' ? v : undefined;
}
