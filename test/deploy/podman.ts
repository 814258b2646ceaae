import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';

/**
 * podman for the image tests, through scripts/image/podman.sh (runc,
 * cgroupfs, the project's containers.conf). The tests run where podman and
 * the locally built base image are present and skip, saying why, where they
 * are not; `npm run test:image` (GRADPOOL_IMAGE_TEST=1) prepares both first
 * and turns a missing piece into a failure.
 */
const root = new URL('../../', import.meta.url).pathname;
const podmanSh = join(root, 'scripts/image/podman.sh');
export const required = process.env.GRADPOOL_IMAGE_TEST === '1';

/** Runs podman; returns its stdout (with `withStderr`, stderr after it: `podman logs` replays a container's stderr there). */
export function podman(args: string[], o: { timeoutMs?: number; allowFail?: boolean; withStderr?: boolean } = {}): string {
  const r = spawnSync(podmanSh, args, { encoding: 'utf8', timeout: o.timeoutMs ?? 120_000, maxBuffer: 64 << 20 });
  if (r.status !== 0 && !o.allowFail) {
    throw new Error(`podman ${args.join(' ')} exited with ${r.status ?? r.signal}: ${(r.stderr || r.stdout).slice(-2000)}`);
  }
  return (o.withStderr ? `${r.stdout}${r.stderr}` : r.stdout).trim();
}

/** Why the image tests cannot run here, or null when they can; the base image's name in `base`. */
export function imagePrerequisites(): { skip: string | null; base: string } {
  if (spawnSync('sh', ['-c', 'command -v podman && command -v runc && command -v catatonit'], { encoding: 'utf8' }).status !== 0) {
    return { skip: 'no podman/runc/catatonit on this machine (apt-get install podman runc catatonit mmdebstrap, or run `npm run test:image`)', base: '' };
  }
  if (process.getuid?.() !== 0) return { skip: 'the image tests run podman as root, and this is not root', base: '' };
  const check = spawnSync('bash', [join(root, 'scripts/image/base.sh'), '--check'], { encoding: 'utf8' });
  if (check.status !== 0) return { skip: `the local base image is not built: ${check.stderr.trim()} (or run \`npm run test:image\`)`, base: '' };
  return { skip: null, base: check.stdout.trim().split('\n').pop()! };
}

/** The test's skip option: skipped with the reason, or failing at once under `npm run test:image`. */
export function skipUnlessImageTests(): { skip: string | false; base: string } {
  const { skip, base } = imagePrerequisites();
  if (skip && required) throw new Error(`npm run test:image: ${skip}`);
  return { skip: skip ?? false, base };
}

/** Builds (or finds in the layer cache) the CPU image on `base`; returns its name. */
export function buildGradpoolImage(base: string): string {
  const out = execFileSync('bash', [join(root, 'scripts/image/build.sh')], {
    encoding: 'utf8',
    env: { ...process.env, GRADPOOL_BASE: base },
    timeout: 30 * 60_000,
    stdio: ['ignore', 'pipe', process.env.GRADPOOL_TEST_VERBOSE ? 'inherit' : 'pipe'],
  });
  return out.trim().split('\n').pop()!;
}

/** The Redis image the tests run in place of redis:7 (scripts/image/redis.Containerfile). */
export function buildRedisImage(base: string): string {
  const image = 'localhost/gradpool-test-redis:7';
  podman(['build', '--layers', '--network', 'host', '--build-arg', `BASE=${base}`, '-t', image, '-f', join(root, 'scripts/image/redis.Containerfile'), join(root, 'scripts/image')], {
    timeoutMs: 10 * 60_000,
  });
  return image;
}

/** Removes containers by name, ignoring those that do not exist. */
export function removeContainers(names: string[]): void {
  if (names.length) podman(['rm', '--force', '--ignore', '--time', '10', ...names], { allowFail: true });
}
