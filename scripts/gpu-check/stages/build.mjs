// Stage 2: both addons against this machine's torch; the torch addon must
// have CUDA. The NCCL/CUDA declarations are checked against the wheels'
// nccl.h and cuda_runtime_api.h; if that check fails to compile, the
// addon is built without it (and the report says so) so later stages run.
import { lastJson, run, ROOT } from './lib.mjs';

export const buildStage = {
  name: 'build',
  timeoutS: 200,
  needs: ['env'],
  async run(ctx) {
    const out = { status: 'ok' };
    const sdkEnv = { ...ctx.env, ...(ctx.cudaHome ? { CUDA_HOME: ctx.cudaHome } : {}) };
    let coll = await run(process.execPath, ['native/scripts/build.mjs', '--strict'], { env: sdkEnv, timeoutMs: ctx.timeoutMs, log: ctx.log });
    out.apiCheck = coll.code === 0 ? (ctx.dryRun ? 'local headers' : 'against the wheels\' headers') : 'FAILED to compile (see the log)';
    if (coll.code !== 0) {
      coll = await run(process.execPath, ['native/scripts/build.mjs', '--strict'], {
        env: { ...ctx.env, GRADPOOL_SKIP_SDK_CHECK: '1' }, timeoutMs: ctx.timeoutMs, log: ctx.log,
      });
      if (coll.code !== 0) return { ...out, status: 'failed', error: 'the collectives addon did not build' };
    }
    const torch = await run(process.execPath, ['native/torch/build.mjs', '--strict'], { env: ctx.env, timeoutMs: ctx.timeoutMs, log: ctx.log });
    if (torch.code !== 0) return { ...out, status: 'failed', error: 'the torch addon did not build (--strict)' };
    const probe = await run(process.execPath, ['-e',
      `console.log(JSON.stringify(require(${JSON.stringify(`${ROOT}native/torch/build/Release/gradpool_torch.node`)}).versions()))`],
    { env: ctx.env, timeoutMs: 60_000, log: ctx.log });
    out.torchAddon = lastJson(probe.stdout);
    if (!ctx.dryRun && !(out.torchAddon?.cuda && out.torchAddon.cudaDevices > 0)) {
      return { ...out, status: 'failed', error: 'the torch addon was built without CUDA or sees no GPU' };
    }
    return out;
  },
};
