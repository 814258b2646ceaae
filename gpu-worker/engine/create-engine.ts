import type { StateDict } from '../../common/state-dict.ts';
import type { BertConfig } from '../model/bert-config.ts';
import type { Engine } from './engine.ts';
import { TfjsEngine } from './tfjs/tfjs-engine.ts';

/**
 * Engine choice, the one place that knows the implementations: "auto" takes
 * the best tfjs backend this machine has (tensorflow, else wasm, else cpu);
 * "wasm" / "cpu" / "tensorflow" force a tfjs backend.
 */
export type EngineName = 'auto' | 'wasm' | 'cpu' | 'tensorflow' | 'torch';

export interface CreateEngineOptions {
  config: BertConfig;
  weights?: StateDict;
  weightsSource?: string;
  seed: number;
}

export async function createEngine(name: string, o: CreateEngineOptions): Promise<Engine> {
  switch (name) {
    case 'auto':
    case 'wasm':
    case 'cpu':
    case 'tensorflow':
      return TfjsEngine.create({ ...o, backend: name });
    case 'torch':
      throw new Error('engine torch: the libtorch engine is not built in this version; use --engine auto, wasm or cpu');
    default:
      throw new Error(`unknown engine ${JSON.stringify(name)} (auto, wasm, cpu, tensorflow, torch)`);
  }
}
