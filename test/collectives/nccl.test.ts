/**
 * nccl backend without GPU or NCCL: creating a communicator must fail at once
 * with a message naming the missing library and how to point at it. (With a
 * GPU and NCCL present, this machine would pick nccl; those paths run only
 * there.) Also: what a missing addon build looks like.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Communicator, loadNative } from '../../native/index.ts';
import { REDIS_URL, freshRunId, leftoverKeys } from './harness.ts';

const probe = loadNative().ncclProbe();
const init = () =>
  Communicator.init({ backend: 'nccl', rank: 0, worldSize: 2, runId: freshRunId('nccl'), timeoutMs: 2000, rendezvous: { redisUrl: REDIS_URL } });

describe('nccl backend: load failures', { skip: probe.ok && 'NCCL and a GPU are present' }, () => {
  it('names libnccl.so.2 (or the CUDA runtime) and the override variable', async () => {
    await assert.rejects(init(), (e: { code: string; message: string }) => {
      assert.equal(e.code, 'UNAVAILABLE');
      if (/NCCL \(libnccl\.so\.2\) could not be loaded/.test(e.message)) {
        assert.match(e.message, /GRADPOOL_NCCL_LIB=/);
      } else {
        assert.match(e.message, /no usable CUDA device|libcudart/);
      }
      return true;
    });
  });

  it('an explicit GRADPOOL_NCCL_LIB / GRADPOOL_CUDART_LIB that does not exist is reported', async () => {
    const saved = { nccl: process.env.GRADPOOL_NCCL_LIB, cudart: process.env.GRADPOOL_CUDART_LIB };
    process.env.GRADPOOL_NCCL_LIB = '/nonexistent/libnccl.so.2';
    process.env.GRADPOOL_CUDART_LIB = '/nonexistent/libcudart.so.12';
    try {
      await assert.rejects(init(), (e: { code: string; message: string }) => {
        assert.equal(e.code, 'UNAVAILABLE');
        assert.match(e.message, /\/nonexistent\/libnccl\.so\.2/);
        assert.match(e.message, /\/nonexistent\/libcudart\.so\.12/);
        assert.match(e.message, /GRADPOOL_CUDART_LIB=/);
        return true;
      });
    } finally {
      for (const [k, v] of [['GRADPOOL_NCCL_LIB', saved.nccl], ['GRADPOOL_CUDART_LIB', saved.cudart]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it('fails before touching Redis', async () => {
    const runId = freshRunId('nccl-nokeys');
    await assert.rejects(
      Communicator.init({ backend: 'nccl', rank: 1, worldSize: 2, runId, timeoutMs: 2000, rendezvous: { redisUrl: REDIS_URL } }),
    );
    assert.deepEqual(await leftoverKeys(runId), []);
  });
});

describe('missing addon build', () => {
  it('throws an error that names the build and how to make it', () => {
    const script = fileURLToPath(new URL('./fixtures/load-addon.ts', import.meta.url));
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], {
      env: { ...process.env, GRADPOOL_NATIVE_ADDON: '/nonexistent/gradpool_collectives.node' },
      encoding: 'utf8',
    });
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { code: string; message: string };
    assert.equal(out.code, 'UNAVAILABLE');
    assert.match(out.message, /addon is not built/);
    assert.match(out.message, /npm run build:native/);
  });
});
