import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { torchPython, scratchDir } from '../test/helpers/torch-reference.ts';
import type { BertConfig } from '../model/bert-config.ts';

const SCRIPT = new URL('./torch_step.py', import.meta.url).pathname;

/** Runs bench/torch_step.py with the same config; returns its JSON lines. */
export function runTorchPeer(config: BertConfig, args: Array<string | number>): Array<Record<string, number | string>> {
  const dir = scratchDir('bench');
  const cfg = join(dir, 'config.json');
  writeFileSync(cfg, JSON.stringify(config));
  const out = execFileSync(torchPython(), [SCRIPT, String(args[0]), cfg, ...args.slice(1).map(String)], {
    env: { ...process.env, OMP_NUM_THREADS: '1', OMP_WAIT_POLICY: 'PASSIVE', BENCH_THREADS: '1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return out.toString().trim().split('\n').map((l) => JSON.parse(l));
}
