import type { StateDict } from '../model/state-dict.ts';
import type { BertConfig } from '../model/bert-config.ts';
import type { ModelHead } from '../model/model-head.ts';
import type { Engine } from './engine.ts';
import { TfjsEngine } from './tfjs/tfjs-engine.ts';
import { tryLoadTorchAddon } from './torch/native.ts';
import { TorchEngine } from './torch/torch-engine.ts';

/**
 * Engine choice, the one place that knows the implementations: "auto" takes
 * the libtorch engine when its addon is built and loads (native/torch/build.mjs),
 * else the best tfjs backend this machine has (tensorflow, else wasm, else cpu);
 * "torch" forces libtorch; "wasm" / "cpu" / "tensorflow" force a tfjs backend.
 */
export type EngineName = 'auto' | 'wasm' | 'cpu' | 'tensorflow' | 'torch';

export interface CreateEngineOptions {
  config: BertConfig;
  /** Default MLM. */
  head?: ModelHead;
  weights?: StateDict;
  weightsSource?: string;
  /** Zeros instead of the random init, for weights replaced before use (a broadcast, a checkpoint). Default false. */
  placeholder?: boolean;
  seed: number;
  /** torch only: "cpu", "cuda:N" (the rank's placement); default the engine's own choice. */
  device?: string;
}

export async function createEngine(name: string, o: CreateEngineOptions): Promise<Engine> {
  switch (name) {
    case 'auto':
      if (tryLoadTorchAddon().addon) return TorchEngine.create(o);
      return TfjsEngine.create({ ...o, backend: name });
    case 'wasm':
    case 'cpu':
    case 'tensorflow':
      return TfjsEngine.create({ ...o, backend: name });
    case 'torch':
      return TorchEngine.create(o);
    default:
      throw new Error(`unknown engine ${JSON.stringify(name)} (auto, wasm, cpu, tensorflow, torch)`);
  }
}
