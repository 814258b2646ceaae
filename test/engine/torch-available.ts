import { existsSync } from 'node:fs';
import { TORCH_ADDON_PATH, tryLoadTorchAddon } from '../../engine/torch/native.ts';

/**
 * `false` when the torch addon is built and loads; the reason, for
 * `test(..., { skip })`, ONLY when it is not built. A built addon that fails
 * to load fails the tests. GRADPOOL_REQUIRE_TORCH=1 (CI, after
 * `node native/torch/build.mjs`) makes a missing build fail too.
 */
export function torchSkip(): string | false {
  const r = tryLoadTorchAddon();
  if (r.addon) return false;
  if (existsSync(TORCH_ADDON_PATH) || process.env.GRADPOOL_REQUIRE_TORCH === '1') throw new Error(r.error);
  return r.error ?? 'torch engine addon not built';
}
