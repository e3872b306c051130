/**
 * The connection to the queue that carries hooks to agents and operations to workers
 * (SPEC §12): Redis, through BullMQ. `HOARD_QUEUE_URL` names it (`redis://host:port/db` or
 * `rediss://…`); without it every hook runs in the coordinating process, as before.
 *
 * `HOARD_QUEUE_PREFIX` (default `hoard`) namespaces every key, so two deployments, or two
 * test runs, can share one Redis. Never log the URL whole: it may carry a password.
 */
import { HoardError } from '../errors.js';

// Imported lazily: ioredis and BullMQ cost ~60 ms to load, and most commands never queue.
type IORedis = import('ioredis').Redis;

export interface QueueSettings {
  url: string;
  prefix: string;
}

/** The queue's settings from the environment, or undefined when `HOARD_QUEUE_URL` is unset. */
export function queueSettings(env: NodeJS.ProcessEnv): QueueSettings | undefined {
  const url = env.HOARD_QUEUE_URL?.trim();
  if (!url) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new HoardError('QUEUE_INVALID', 'HOARD_QUEUE_URL is not a URL: expected redis://HOST:PORT[/DB]', {
      details: { variable: 'HOARD_QUEUE_URL' },
    });
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new HoardError(
      'QUEUE_INVALID',
      `HOARD_QUEUE_URL has scheme "${parsed.protocol.replace(/:$/, '')}": expected redis:// or rediss://`,
      { details: { variable: 'HOARD_QUEUE_URL' } },
    );
  }
  const prefix = env.HOARD_QUEUE_PREFIX?.trim() || 'hoard';
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(prefix)) {
    throw new HoardError(
      'QUEUE_INVALID',
      'HOARD_QUEUE_PREFIX must be 1–64 letters, digits, "_", "." or "-"',
      {
        details: { variable: 'HOARD_QUEUE_PREFIX' },
      },
    );
  }
  return { url, prefix };
}

/** The URL with any password replaced, for messages. */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable URL)';
  }
}

/**
 * A new Redis connection for BullMQ. BullMQ's workers block on Redis and need
 * `maxRetriesPerRequest: null`; each Queue, Worker and QueueEvents gets its own connection.
 * The first connect is awaited, so an unreachable server is QUEUE_UNAVAILABLE at once rather
 * than a command that waits for ever.
 */
export async function connectQueue(
  settings: QueueSettings,
  options: { connectTimeoutMs?: number } = {},
): Promise<IORedis> {
  const { Redis } = await import('ioredis');
  const client = new Redis(settings.url, {
    maxRetriesPerRequest: null,
    lazyConnect: true,
    connectTimeout: options.connectTimeoutMs ?? 5_000,
    // Reconnect for ever with a capped backoff: a restarted Redis is waited for, not fatal.
    retryStrategy: (times) => Math.min(200 * times, 2_000),
  });
  // ioredis emits 'error' on every failed reconnect; without a listener Node would throw it.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (cause) {
    client.disconnect();
    throw new HoardError(
      'QUEUE_UNAVAILABLE',
      `cannot reach the queue at ${redactedUrl(settings.url)}: ${(cause as Error).message}; is Redis running there?`,
      { cause },
    );
  }
  return client;
}
