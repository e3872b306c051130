/** An in-process `hoard serve` on a free loopback port with a SQLite catalog in a temp home. */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { type Catalog, SqliteCatalog } from '../../src/catalog/index.js';
import { loadProviders } from '../../src/providers/provider.js';
import { createService, type Service } from '../../src/service/server.js';

// biome-ignore lint/suspicious/noExplicitAny: API bodies, checked field by field by the tests
export type Json = any;

export interface TestServer {
  service: Service;
  catalog: Catalog;
  url: string;
  home: string;
  dir: string;
  tokenFor(project: string, admin?: boolean): Promise<string>;
  /** fetch with a bearer token; JSON body in, parsed JSON out. */
  call(
    token: string | undefined,
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; headers: Headers; body: Json }>;
  /** Polls an operation log until it leaves queued/running. */
  waitFor(token: string, project: string, id: string, timeoutMs?: number): Promise<Json>;
  close(): Promise<void>;
}

export async function startServer(
  options: {
    tickMs?: number;
    /** The scheduler's clock (ServiceOptions.now). */
    now?: () => Date;
    pathRoots?: string[];
    providerFiles?: Record<string, string>;
  } = {},
): Promise<TestServer> {
  const dir = await mkdtemp(join(tmpdir(), 'hoard-serve-'));
  const home = join(dir, 'home');
  for (const [name, text] of Object.entries(options.providerFiles ?? {})) {
    await mkdir(join(home, 'providers'), { recursive: true });
    await writeFile(join(home, 'providers', name), text.replaceAll('$DIR', dir));
  }
  const catalog = new SqliteCatalog(join(home, 'catalog.sqlite'));
  await catalog.migrate();
  const { providers, problems } = await loadProviders(home);
  const service = await createService({
    catalog,
    providers,
    problems,
    tickMs: options.tickMs ?? 0,
    ...(options.now ? { now: options.now } : {}),
    ...(options.pathRoots ? { pathRoots: options.pathRoots } : {}),
  });
  const url = await service.app.listen({ port: 0, host: '127.0.0.1' });
  const call: TestServer['call'] = async (token, method, path, body, headers = {}) => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {}
    return { status: response.status, headers: response.headers, body: parsed };
  };
  return {
    service,
    catalog,
    url,
    home,
    dir,
    async tokenFor(project, admin = false) {
      return (await catalog.createToken({ project, admin })).secret;
    },
    call,
    async waitFor(token, project, id, timeoutMs = 30_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const r = await call(token, 'GET', `/v1/${project}/operation_logs/${id}`);
        assert.equal(r.status, 200, JSON.stringify(r.body));
        if (!['queued', 'running'].includes(r.body.operationLog.status)) return r.body.operationLog;
        assert.ok(Date.now() < until, `operation ${id} still ${r.body.operationLog.status}`);
        await delay(50);
      }
    },
    async close() {
      await service.close(5_000);
      await catalog.close();
    },
  };
}

/** Asserts the common error body and returns it. */
export function assertError(r: { status: number; body: Json }, status: number, code: string, text?: RegExp) {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.equal(r.body?.error?.code, code, JSON.stringify(r.body));
  assert.equal(typeof r.body.error.message, 'string');
  assert.doesNotMatch(r.body.error.message, /\n\s+at /, 'no stack trace in an error body');
  if (text) assert.match(r.body.error.message, text);
  return r.body.error;
}
