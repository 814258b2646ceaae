import { tryLoadTorchAddon } from '../../gpu-worker/engine/torch/native.ts';

/**
 * `false` when the torch addon is built and loads; otherwise the reason, for
 * `test(..., { skip })`. Tests skip ONLY for a missing build: with
 * GRADPOOL_REQUIRE_TORCH=1 (CI, after `node native/torch/build.mjs`) a missing
 * or broken addon fails instead.
 */
export function torchSkip(): string | false {
  const r = tryLoadTorchAddon();
  if (r.addon) return false;
  if (process.env.GRADPOOL_REQUIRE_TORCH === '1') throw new Error(r.error);
  return r.error ?? 'torch engine addon not built';
}
