import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../common/atomic-write.ts';
import type { EngineInfo } from '../engine/engine.ts';
import { runPaths, type RunSpec } from './run-spec.ts';

/** runs/<name>/saved_params.json: the resolved run, engine, versions and git commit. */
export function writeSavedParams(spec: RunSpec, engine: EngineInfo, extra: Record<string, unknown> = {}): void {
  const body = {
    run: spec,
    engine,
    versions: { node: process.version, gradpool: packageVersion() },
    git_commit: gitCommit(),
    written: new Date().toISOString(),
    ...extra,
  };
  writeFileAtomic(runPaths(spec.runDir).savedParams, Buffer.from(JSON.stringify(body, null, 2)));
}

/**
 * The run's outcome added to saved_params.json at its end (or pause): the
 * last evaluation's metrics (a classifier's with per-label figures and the
 * confusion matrix), the best metric, why it stopped.
 */
export function recordRunOutcome(spec: RunSpec, engine: EngineInfo, outcome: Record<string, unknown>): void {
  const path = runPaths(spec.runDir).savedParams;
  if (!existsSync(path)) return writeSavedParams(spec, engine, outcome);
  const body = { ...(JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>), ...outcome, updated: new Date().toISOString() };
  writeFileAtomic(path, Buffer.from(JSON.stringify(body, null, 2)));
}

export function readSavedRun(runDir: string): RunSpec {
  return (JSON.parse(readFileSync(runPaths(runDir).savedParams, 'utf8')) as { run: RunSpec }).run;
}

function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

function gitCommit(): string | null {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: new URL('..', import.meta.url).pathname, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    return null;
  }
}
