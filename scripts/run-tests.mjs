// Runs every test/**/*.test.ts with Node's own test runner (Node 20's --test
// takes no globs). Extra arguments filter files by substring.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const filters = process.argv.slice(2);
const files = [];
(function walk(dir) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.ts')) files.push(relative(root, p));
  }
})(join(root, 'test'));
const chosen = filters.length ? files.filter((f) => filters.some((s) => f.includes(s))) : files;
if (chosen.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...chosen], {
  cwd: root,
  stdio: 'inherit',
  // Under CI the libtorch engine must be there: its tests fail rather than skip.
  env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE', ...(process.env.CI ? { GRADPOOL_REQUIRE_TORCH: '1' } : {}) },
});
process.exit(r.status ?? 1);
