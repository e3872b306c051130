/**
 * The Redis the queue tests use: HOARD_TEST_REDIS_URL, or redis://127.0.0.1:6379. Without one
 * answering, `NO_REDIS` is the reason to skip (test/setup/redis.sh says so at the top of the
 * run) — except under CI=true, where the tests run and fail.
 */
import { connect } from 'node:net';

export const REDIS_URL = process.env.HOARD_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

function answers(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port || 6379) });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2_000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}

export const NO_REDIS: string | false =
  process.env.CI !== 'true' && !(await answers(REDIS_URL))
    ? `no Redis at ${REDIS_URL}: 'apt-get install redis-server' (as root) installs and starts it`
    : false;
