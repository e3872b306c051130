/**
 * A Redis of a test's own (`/usr/bin/redis-server` on a free port, its files in a temporary
 * directory), for tests that stop and start it: never the shared one on 6379.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';

export const REDIS_SERVER = '/usr/bin/redis-server';
export const NO_REDIS_SERVER: string | false = existsSync(REDIS_SERVER)
  ? false
  : `no ${REDIS_SERVER}: 'apt-get install redis-server' (as root) installs it`;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export class OwnRedis {
  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;

  private constructor(
    readonly port: number,
    readonly dir: string,
    /** Append-only file, fsynced at every write: a restart loses nothing acknowledged. */
    readonly persistent: boolean,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(dir: string, options: { persistent: boolean }): Promise<OwnRedis> {
    const redis = new OwnRedis(await freePort(), dir, options.persistent);
    await redis.start();
    return redis;
  }

  /** Starts it (again, on the same port and directory); resolves once it answers. */
  async start(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', ''];
    args.push(
      ...(this.persistent ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
    );
    const child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${out}`)), 10_000);
      child.stdout!.on('data', (d) => {
        out += d;
        if (out.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      });
      void this.exited!.then(() => reject(new Error(`redis-server exited: ${out}`)));
    });
  }

  /** Stops it: SIGKILL by default (with `appendfsync always`, nothing acknowledged is lost). */
  async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    this.child?.kill(signal);
    await this.exited;
    this.child = undefined;
  }

  /** Forgets every key: its files go, so the next start is empty. */
  async wipe(): Promise<void> {
    await rm(join(this.dir, 'appendonlydir'), { recursive: true, force: true });
    await rm(join(this.dir, 'dump.rdb'), { force: true });
  }
}
