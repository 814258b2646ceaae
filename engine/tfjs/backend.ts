import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';

/**
 * Picks the tfjs backend once per process: `tensorflow` when
 * @tensorflow/tfjs-node-gpu (or tfjs-node) loads, else `wasm` (SIMD; Node
 * gives it no threads), else the pure-JS `cpu` (a last resort: a 2-layer
 * BERT step takes over a minute there).
 */
export type TfjsBackendName = 'auto' | 'tensorflow' | 'wasm' | 'cpu';

export interface TfjsBackendInfo {
  backend: string;
  threads: number;
  simd: boolean;
  versions: Record<string, string>;
}

let chosen: TfjsBackendInfo | null = null;
const require = createRequire(import.meta.url);

async function tryTensorflow(): Promise<string | null> {
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      await import(pkg);
      if (await tf.setBackend('tensorflow')) return pkg;
    } catch {
      // Not installed here (its libtensorflow download fails on most machines): fall through.
    }
  }
  return null;
}

async function tryWasm(): Promise<boolean> {
  try {
    await import('@tensorflow/tfjs-backend-wasm');
    return await tf.setBackend('wasm');
  } catch {
    return false;
  }
}

export async function initTfjsBackend(want: TfjsBackendName = 'auto'): Promise<TfjsBackendInfo> {
  if (chosen && (want === 'auto' || want === chosen.backend)) return chosen;
  const versions: Record<string, string> = { 'tfjs-core': tf.version_core };
  let backend = '';
  if (want === 'auto' || want === 'tensorflow') {
    const pkg = await tryTensorflow();
    if (pkg) {
      backend = 'tensorflow';
      versions[pkg] = packageVersion(pkg);
    } else if (want === 'tensorflow') {
      throw new Error(
        'engine tfjs/tensorflow: neither @tensorflow/tfjs-node-gpu nor @tensorflow/tfjs-node loads here ' +
          '(their install downloads libtensorflow, which fails on most machines); use --engine wasm or torch',
      );
    }
  }
  if (!backend && (want === 'auto' || want === 'wasm')) {
    if (await tryWasm()) {
      backend = 'wasm';
      versions['tfjs-backend-wasm'] = packageVersion('@tensorflow/tfjs-backend-wasm');
    } else if (want === 'wasm') {
      throw new Error('engine tfjs/wasm: @tensorflow/tfjs-backend-wasm failed to initialise; use --engine cpu');
    }
  }
  if (!backend) {
    if (!(await tf.setBackend('cpu'))) throw new Error('engine tfjs/cpu: the cpu backend failed to initialise');
    backend = 'cpu';
  }
  await tf.ready();
  const be = tf.backend() as unknown as { getThreadsCount?: () => number };
  chosen = {
    backend,
    threads: typeof be.getThreadsCount === 'function' ? be.getThreadsCount() : 1,
    simd: backend === 'wasm' ? Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) : false,
    versions,
  };
  return chosen;
}

function packageVersion(pkg: string): string {
  try {
    return (require(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}
