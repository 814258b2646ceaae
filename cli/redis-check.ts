import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { redisOptions } from '../protocol/redis.ts';

/**
 * Makes sure a Redis answers: the configured one if it does, else (for a
 * local URL) a private redis-server on a free port, stopped with the caller;
 * else an error saying exactly what to install or set.
 */
export async function ensureRedis(url: string): Promise<{ url: string; stop: () => void }> {
  if (await answers(url)) return { url, stop: () => {} };
  const { host } = redisOptions(url);
  const local = host === '127.0.0.1' || host === 'localhost' || host === '::1';
  const which = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  if (!local || which.status !== 0) {
    throw new Error(
      `Redis does not answer at ${url}. Start one (apt-get install -y redis-server; ` +
        `redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "") or point GRADPOOL_REDIS_URL at yours.`,
    );
  }
  const port = await freePort();
  const child: ChildProcess = spawn(which.stdout.trim(), ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  const privateUrl = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 50 && !(await answers(privateUrl)); i++) await new Promise((r) => setTimeout(r, 100));
  process.stderr.write(`Redis: none at ${url}; started a private redis-server at ${privateUrl}\n`);
  return { url: privateUrl, stop: () => child.kill('SIGTERM') };
}

async function answers(url: string): Promise<boolean> {
  const r = new Redis({ ...redisOptions(url), lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on('error', () => undefined); // the failed connect below says it
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}
