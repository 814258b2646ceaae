// Helpers shared by the gpu:check stages: child processes under a deadline
// (the whole process group is killed at it), the Python with torch, and where
// the NVIDIA wheels keep NCCL and the CUDA runtime.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
export const HERE = fileURLToPath(new URL('.', import.meta.url));

/**
 * Runs a command; resolves { code, signal, stdout, stderr, timedOut, ms }.
 * Output also goes to log (a function taking a line). Never rejects.
 */
export function run(cmd, args, { env = {}, timeoutMs, log, cwd = ROOT, onSpawn } = {}) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    onSpawn?.(child);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const relay = (name) => (chunk) => {
      const text = chunk.toString();
      if (name === 'out') stdout += text;
      else stderr += text;
      for (const line of text.split('\n')) if (line.trim()) log?.(`  ${line}`);
    };
    child.stdout.on('data', relay('out'));
    child.stderr.on('data', relay('err'));
    const timer = timeoutMs ? setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }, timeoutMs) : undefined;
    child.on('error', (err) => {
      stderr += String(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut, ms: Date.now() - t0 });
    });
  });
}

/** The last line of stdout that parses as JSON (stages print their figures that way). */
export function lastJson(stdout) {
  const line = stdout.trim().split('\n').reverse().find((l) => l.trim().startsWith('{'));
  return line ? JSON.parse(line) : undefined;
}

/** A Python whose torch imports (GRADPOOL_TORCH_PYTHON, python3, /usr/bin/python3). */
export function torchPython() {
  for (const py of [process.env.GRADPOOL_TORCH_PYTHON, 'python3', '/usr/bin/python3'].filter(Boolean)) {
    const r = spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore' });
    if (r.status === 0) return py;
  }
  return undefined;
}

/** site-packages/nvidia of that Python (the CUDA and NCCL wheels), if any. */
export function nvidiaWheels(py) {
  const r = spawnSync(py, ['-c', 'import nvidia, os; print(list(nvidia.__path__)[0])'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** First file named `name` below dir (depth-limited walk). */
export function findFile(dir, name, depth = 4) {
  if (!dir || depth < 0 || !existsSync(dir)) return undefined;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isFile() && e.name === name) return p;
  }
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (!e.isDirectory()) continue;
    const hit = findFile(join(dir, e.name), name, depth - 1);
    if (hit) return hit;
  }
  return undefined;
}

/** Peak memory (MiB) of a process tree's GPU use, sampled from nvidia-smi until stop(). */
export function sampleGpuMemory(pid) {
  let peak = 0;
  const tick = () => {
    const r = spawnSync('nvidia-smi', ['--query-compute-apps=pid,used_memory', '--format=csv,noheader,nounits'], { encoding: 'utf8' });
    if (r.status !== 0) return;
    const tree = descendants(pid);
    for (const line of r.stdout.split('\n')) {
      const [p, mib] = line.split(',').map((s) => Number(s.trim()));
      if (tree.has(p) && mib > peak) peak = mib;
    }
  };
  const timer = setInterval(tick, 250);
  return { stop: () => (clearInterval(timer), peak || undefined) };
}

function descendants(pid) {
  const out = new Set([pid]);
  const r = spawnSync('ps', ['-e', '-o', 'pid=,ppid='], { encoding: 'utf8' });
  const pairs = r.stdout.split('\n').map((l) => l.trim().split(/\s+/).map(Number)).filter((x) => x.length === 2);
  for (let grew = true; grew;) {
    grew = false;
    for (const [p, pp] of pairs) if (out.has(pp) && !out.has(p)) out.add(p), (grew = true);
  }
  return out;
}
