#!/usr/bin/env node
// The layout's import rules (README "Layout"): every relative import of every
// TypeScript/JavaScript file must point at a folder its own folder may use.
// Imports point down; the two processes (coordinator/, gpu-worker/) never
// import each other; library folders never import a process or cli/.
// Usage: node scripts/check-layout.mjs  (exit 1 and one line per violation)
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';

const root = new URL('..', import.meta.url).pathname;

/** Folder → the folders it may import (besides itself). */
export const MAY_IMPORT = {
  common: [],
  spec: ['common'],
  data: ['common', 'spec'],
  model: ['common'],
  engine: ['common', 'model', 'native'],
  train: ['common', 'spec', 'data', 'model', 'engine'],
  protocol: ['common', 'spec', 'train'],
  coordinator: ['common', 'spec', 'data', 'model', 'train', 'protocol'],
  'gpu-worker': ['common', 'spec', 'data', 'model', 'engine', 'train', 'protocol', 'native'],
  native: [],
  cli: ['common', 'spec', 'data', 'model', 'engine', 'train', 'protocol', 'coordinator', 'gpu-worker', 'native', 'bin'],
  'index.ts': ['coordinator', 'protocol', 'spec', 'train'],
  bin: ['cli'],
  // Benchmarks and tests may reach anything (tests drive every layer).
  bench: '*',
  test: '*',
  scripts: '*',
  examples: '*',
  'ecosystem.config.js': '*',
};

const IMPORT = /(?:from\s+|import\(\s*|new URL\(\s*|require\(\s*)'(\.\.?\/[^']+)'/g;
const topOf = (p) => p.split('/')[0];

/** The rule violations of one file (`file` relative to the repository root). */
export function violationsOf(file, src) {
  const from = topOf(file);
  const rule = MAY_IMPORT[from];
  if (rule === undefined) return [`${file}: folder "${from}" has no rule in scripts/check-layout.mjs`];
  if (rule === '*') return [];
  const out = [];
  for (const m of src.matchAll(IMPORT)) {
    const target = normalize(join(dirname(file), m[1]));
    const to = topOf(target);
    if (to === from || to === 'proto' || to === 'package.json') continue;
    if (!rule.includes(to)) {
      const line = src.slice(0, m.index).split('\n').length;
      out.push(`${file}:${line}: ${from}/ may not import ${to}/ (${m[1]}); allowed: ${rule.join(', ') || 'nothing outside itself'}`);
    }
  }
  return out;
}

/** Every violation in the checkout (tracked and new files). */
export function layoutViolations() {
  const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: root, encoding: 'utf8' })
    .split('\n')
    .filter((f) => /\.(ts|mts|mjs|js|cjs)$/.test(f));
  return files.flatMap((f) => violationsOf(f, readFileSync(join(root, f), 'utf8')));
}

if (process.argv[1] === new URL(import.meta.url).pathname) {
  const v = layoutViolations();
  for (const l of v) console.error(l);
  console.error(v.length ? `layout: ${v.length} import(s) break the rules` : 'layout: every import follows the rules');
  process.exit(v.length ? 1 : 0);
}
