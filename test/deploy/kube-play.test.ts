import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chownSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { stringify } from 'yaml';
import { render, type K8sObject } from './k8s-validate.ts';
import { freePort } from './private-redis.ts';
import { buildGradpoolImage, buildRedisImage, podman, skipUnlessImageTests } from './podman.ts';

// Smoke test of the coordinator and Redis manifests as written: the base
// rendered by kustomize, played by `podman kube play` (ConfigMap, PVC, both
// Deployments), then jobs submitted from the host, which the played
// coordinator's intake must check against the claimed volume: one whose
// corpus is on the volume waits QUEUED for a worker, one whose corpus is
// missing there fails at once naming the file.
// What podman cannot have is changed, and only that: the images are the
// local ones, names carry a test suffix, and on the host network Redis gets
// a free port and the ConfigMap points there (podman 4.3 has no Services);
// containerPort entries go (podman maps none on the host network).
const root = new URL('../../', import.meta.url).pathname;
const { skip, base } = skipUnlessImageTests();
const suffix = `kp${process.pid}`;
const IMAGE_UID = 10001;

function forPodman(objects: K8sObject[], images: { gradpool: string; redis: string }, port: number): K8sObject[] {
  const wanted = new Set(['ConfigMap/gradpool-config', 'PersistentVolumeClaim/gradpool-shared', 'Deployment/gradpool-redis', 'Deployment/gradpool-coordinator']);
  const chosen = structuredClone(objects.filter((o) => wanted.has(`${o.kind}/${o.metadata?.name}`)));
  assert.equal(chosen.length, wanted.size, 'the base has the ConfigMap, the PVC and both Deployments');
  const text = JSON.stringify(chosen)
    .replaceAll('"gradpool-config"', `"gradpool-config-${suffix}"`)
    .replaceAll('"gradpool-shared"', `"gradpool-shared-${suffix}"`)
    .replaceAll('"gradpool-redis"', `"gradpool-redis-${suffix}"`)
    .replaceAll('"gradpool-coordinator"', `"gradpool-coordinator-${suffix}"`);
  const out = JSON.parse(text) as any[];
  for (const o of out) {
    if (o.kind === 'ConfigMap') Object.assign(o.data, { GRADPOOL_REDIS_URL: `redis://127.0.0.1:${port}`, GRADPOOL_PREFIX: suffix });
    for (const c of o.spec?.template?.spec?.containers ?? []) {
      c.image = c.name === 'redis' ? images.redis : images.gradpool;
      c.imagePullPolicy = 'Never';
      delete c.ports; // on the host network podman refuses port mappings (the ports are the host's)
      if (c.name === 'redis') c.args.push('--bind', '127.0.0.1', '--port', String(port));
    }
  }
  return out;
}

test('podman kube play runs the coordinator and Redis manifests; the coordinator checks jobs against the claimed volume and queues them', { skip, timeout: 20 * 60_000 }, async () => {
  const images = { gradpool: buildGradpoolImage(base), redis: buildRedisImage(base) };
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'gradpool-kube-play-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const manifest = join(dir, 'play.yaml');
  writeFileSync(manifest, forPodman(render(join(root, 'k8s/base')).map((l) => l.obj), images, port).map((o) => stringify(o)).join('---\n'));
  after(() => {
    // By name (the manifest file may be gone by now): the pods of this test, then its volume.
    const pods = podman(['pod', 'ps', '--quiet', '--filter', `name=${suffix}`], { allowFail: true }).split('\n').filter(Boolean);
    if (pods.length) podman(['pod', 'rm', '--force', '--time', '10', ...pods], { allowFail: true });
    podman(['volume', 'rm', '--force', `gradpool-shared-${suffix}`], { allowFail: true });
  });

  podman(['kube', 'play', '--network', 'host', manifest], { timeoutMs: 180_000 });
  const states = podman(['ps', '--all', '--filter', `name=${suffix}`, '--format', '{{.Names}} {{.State}}']);
  // Containers are named <deployment>-pod[-<n>]-<container>; podman 4.3 prints the state as "Up ...".
  const coordinator = new RegExp(`^(gradpool-coordinator-${suffix}-pod\\S*-coordinator) (Up|running)`, 'm').exec(states)?.[1];
  assert.ok(coordinator, states);
  assert.match(states, new RegExp(`^gradpool-redis-${suffix}-pod\\S*-redis (Up|running)`, 'm'), states);

  // The claim is a podman volume; as with an NFS share, its owner must let the image's user write.
  const volume = podman(['volume', 'inspect', '--format', '{{.Mountpoint}}', `gradpool-shared-${suffix}`]);
  chownSync(volume, IMAGE_UID, IMAGE_UID);

  // The training corpus on the claimed volume (as an operator would put it there); the rest inside the image.
  mkdirSync(join(volume, 'corpus'));
  copyFileSync(join(root, 'examples/corpus/grimm/valid.txt'), join(volume, 'corpus/train.txt'));
  for (const p of [join(volume, 'corpus'), join(volume, 'corpus/train.txt')]) chownSync(p, IMAGE_UID, IMAGE_UID);
  const jobFile = (name: string, train: string) => {
    const file = join(dir, `${name}.json`);
    writeFileSync(file, JSON.stringify({
      name,
      output_dir: '/shared/runs',
      engine: 'torch',
      corpus: { train, valid: '/app/examples/corpus/grimm/test.txt', cache_dir: '/shared/cache/tokens' },
      tokenizer: '/app/test/fixtures/bert-base-uncased',
      model: { config: { hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 64, max_position_embeddings: 64 } },
      stages: [{ seq_len: 32, micro_batch: 4, global_batch: 4, max_steps: 2 }],
    }));
    return file;
  };
  const env = { ...process.env, GRADPOOL_REDIS_URL: `redis://127.0.0.1:${port}`, GRADPOOL_PREFIX: suffix };
  const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/gradpool.js', ...args], { cwd: root, env, encoding: 'utf8', timeout: 60_000 });
  const submit = (file: string) => {
    const submitted = cli('submit', file, '--world', '1');
    assert.equal(submitted.status, 0, submitted.stderr);
    return submitted.stdout.trim();
  };
  const settled = async (id: string) => {
    let status = '';
    for (let i = 0; i < 240 && !/"state": "(QUEUED|FAILED)"/.test(status); i++) {
      await new Promise((r) => setTimeout(r, 500));
      status = cli('status', id).stdout;
    }
    return `${status}\ncoordinator log:\n${podman(['logs', coordinator], { allowFail: true, withStderr: true })}`;
  };

  // No worker runs here: a job the intake accepts waits for one, with the reason.
  const good = await settled(submit(jobFile('kube-play', '/shared/corpus/train.txt')));
  assert.match(good, /"state": "QUEUED"/, good);
  assert.match(good, /"queue_reason": "[^"]*worker/, good);
  // The same job with a corpus file the volume does not hold fails at once, naming it.
  const bad = await settled(submit(jobFile('kube-play-missing', '/shared/corpus/missing.txt')));
  assert.match(bad, /"state": "FAILED"/, bad);
  assert.match(bad, /payload\.corpus\.train\[0\]: \/shared\/corpus\/missing\.txt does not exist/, bad);
});
