import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { readJsonNamed } from '../common/read-file.ts';
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
  const body = { ...readJsonNamed<Record<string, unknown>>(path, 'run parameters'), ...outcome, updated: new Date().toISOString() };
  writeFileAtomic(path, Buffer.from(JSON.stringify(body, null, 2)));
}

/**
 * The RunSpec a run folder was started with, placed where the folder is now:
 * a copied or moved run resumes (and writes) in the folder given, not in the
 * one saved_params.json remembers. `log` hears about the move.
 */
export function readSavedRun(runDir: string, log: (line: string) => void = () => {}): RunSpec {
  const path = runPaths(runDir).savedParams;
  const saved = readJsonNamed<{ run?: RunSpec }>(path, 'run parameters');
  if (!saved.run || typeof saved.run.runDir !== 'string') throw new Error(`run parameters: ${path} has no "run" section (not written by gradpool?)`);
  return relocateRun(saved.run, resolve(runDir), log);
}

/** The spec with every path inside its old run folder moved into `runDir`. */
export function relocateRun(spec: RunSpec, runDir: string, log: (line: string) => void): RunSpec {
  const old = resolve(spec.runDir);
  if (old === runDir) return spec;
  log(`run folder: saved_params.json names ${old}; using the folder given, ${runDir}`);
  const moved = (p: string) => (p === old || p.startsWith(`${old}/`) ? runDir + p.slice(old.length) : p);
  return {
    ...spec,
    runDir,
    job: { ...spec.job, output_dir: dirname(runDir), name: basename(runDir) },
    tokenizerDir: moved(spec.tokenizerDir),
    initFrom: spec.initFrom === null ? null : moved(spec.initFrom),
    trainCache: moved(spec.trainCache),
    validCache: moved(spec.validCache),
    classification: (spec.classification ?? []).map((c) => c && { ...c, trainCache: moved(c.trainCache), validCache: moved(c.validCache) }),
  };
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
