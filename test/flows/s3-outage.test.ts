/**
 * The S3 server stopping in the middle of a protect, unencrypted and with password
 * encryption: the real server (radosgw, see test/bank/s3-server.ts) behind the proxy of
 * test/bank/s3-proxy.ts, which forwards until the protect has stored a pack, then cuts every
 * connection or answers 503 until the test lets it forward again. The flows run in-process:
 * the CLI has no setting for the bank's retries, which by default last about 15 s, while
 * here they give up after two tries. The checkpoint ends `error`, never `available`; once the
 * server is back the next protect succeeds, and every `available` checkpoint verifies, before
 * and after a garbage collection.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type EncryptionSettings, S3Bank, type S3BankOptions } from '../../src/bank/index.js';
import { CheckpointStore } from '../../src/checkpoints/store.js';
import { HoardError } from '../../src/errors.js';
import { restore, verify } from '../../src/flows/checkpoint-ops.js';
import { collectGarbage, type GcReport } from '../../src/flows/gc.js';
import { protect } from '../../src/flows/protect.js';
import { BUILTIN_PLUGINS } from '../../src/plugins/builtins.js';
import { PluginRegistry } from '../../src/plugins/registry.js';
import type { Provider } from '../../src/providers/provider.js';
import { s3ErrorBody, startProxy } from '../bank/s3-proxy.js';
import { freshBucket, removeBucket, type S3Server, SKIP_REASON, s3Server } from '../bank/s3-server.js';
import { plan, sourceTree, treeSums } from './fixture.js';

process.env.HOARD_KDF_N ??= '1024';
// Leases (the store's writers', the checkpoints') live 5 s rather than 30: one the protect
// could not release while the server was down holds up gc until then.
process.env.HOARD_LEASE_TTL_MS ??= '5000';

const MiB = 1024 * 1024;
const server = await s3Server();

if (server === undefined) {
  it('the S3 server stopping mid-protect', { skip: SKIP_REASON }, () => {});
} else {
  outageTests(server);
}

function outageTests(server: S3Server): void {
  /** A provider of the built-in plugins on an s3 bank of the test server (through `options.endpoint`). */
  async function s3Provider(
    idSuffix: string,
    name: string,
    description: string,
    options: Omit<S3BankOptions, 'credentials'>,
  ): Promise<Provider> {
    const registry = new PluginRegistry(name);
    for (const factory of BUILTIN_PLUGINS.values()) registry.add(await factory({}));
    return {
      id: `00000000-0000-4000-8000-00000000000${idSuffix}`,
      name,
      description,
      bankType: 's3',
      encryption: options.encryption ? 'password' : 'none',
      bank: new S3Bank({
        ...options,
        credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
      }),
      registry,
      file: undefined,
      settings: {},
    };
  }

  let dir = '';
  let sums: Map<string, string>;
  let files: ReturnType<typeof plan>;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hoard-s3-outage-'));
    const source = join(dir, 'source');
    // Packs close at 16 MiB: at least two, and more data to send once the first is stored.
    sums = await sourceTree(source, { 'a.bin': 17 * MiB, 'b.bin': 17 * MiB, 'c.txt': 3000 });
    files = plan(`
name: files
resources:
  - {type: fs.directory, id: files, path: ${JSON.stringify(source)}}
`);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const modes: [string, EncryptionSettings | undefined][] = [
    ['unencrypted', undefined],
    ['password encryption', { mode: 'password', where: 'the outage bank', password: async () => 'pw' }],
  ];

  describe('the S3 server stopping mid-protect', () => {
    for (const [mode, encryption] of modes) {
      it(`${mode}: the checkpoint ends error, the next protect once the server is back succeeds, and every available checkpoint verifies, before and after gc`, async () => {
        const bucket = await freshBucket(server, 'outage');
        /** 'up' until a pack is stored, 'down' until the protect has failed, then 'up' again. */
        let state: 'up' | 'armed' | 'down' = 'armed';
        let refused = 0;
        let packsBefore = 0;
        const proxy = await startProxy(server.endpoint, {
          onRequest: (req) => {
            if (state === 'down') {
              refused++;
              return refused % 2 === 0
                ? 'reset'
                : {
                    status: 503,
                    headers: { 'content-type': 'application/xml' },
                    body: s3ErrorBody('ServiceUnavailable', 'The server is down.'),
                  };
            }
            // A pack stored: a whole PUT, or the POST that completes a multipart upload.
            const url = req.url ?? '';
            const whole = req.method === 'PUT' && !url.includes('uploadId=');
            const completes = req.method === 'POST' && url.includes('uploadId=');
            if (state === 'armed' && url.includes('/store/packs/') && (whole || completes)) {
              packsBefore++;
              state = 'down'; // from the next request on
            }
            return 'forward';
          },
        });
        try {
          const provider = await s3Provider('5', 's3-outage', 'an s3 bank behind a proxy that goes down', {
            bucket,
            endpoint: proxy.endpoint,
            retry: { attempts: 2, initialDelayMs: 5 },
            ...(encryption ? { encryption } : {}),
          });

          // The server comes back once the protect has given up on a task. Whether the protect
          // could still write its final status depends on timing (its journal or status write
          // may fall in the outage too): it ends `error`, or it throws BANK_UNAVAILABLE and its
          // checkpoint reads as `error` once its lease has lapsed. Never `available`.
          let firstId: string | undefined;
          const first = await protect(files, provider, {
            onCheckpoint: (id) => {
              firstId = id;
            },
            onEvent: (event) => {
              if (event.type === 'state' && event.state === 'failed' && state === 'down') state = 'up';
            },
          }).catch((error: unknown) => {
            assert.equal((error as { code?: string }).code, 'BANK_UNAVAILABLE', String(error));
            return undefined;
          });
          state = 'up';
          assert.equal(packsBefore, 1, 'a pack was stored before the server went down');
          assert.ok(refused >= 2, `the server refused ${refused} requests`);
          assert.ok(firstId, 'the first protect made its checkpoint');
          if (first) {
            assert.equal(first.checkpoint.status, 'error', JSON.stringify(first.checkpoint));
            assert.equal(first.operation?.status, 'failed');
            assert.match(JSON.stringify(first.operation), /BANK_UNAVAILABLE/);
          }

          const checkpoints = new CheckpointStore(provider.bank);
          let status = (await checkpoints.get(firstId!)).status;
          for (let waited = 0; status === 'protecting' && waited < 20_000; waited += 250) {
            await new Promise((resolve) => setTimeout(resolve, 250)); // its lease (5 s) lapses
            status = (await checkpoints.get(firstId!)).status;
          }
          assert.equal(status, 'error');

          const second = await protect(files, provider);
          assert.equal(second.checkpoint.status, 'available', JSON.stringify(second.operation));

          const verifyAll = async () => {
            const listed = (await checkpoints.list()).checkpoints;
            assert.deepEqual(
              listed.map((c) => [c.id, c.status]).sort(),
              [
                [firstId!, 'error'],
                [second.checkpoint.id, 'available'],
              ].sort(),
            );
            for (const c of listed.filter((c) => c.status === 'available')) {
              const verified = await verify(c.id, provider);
              assert.equal(verified.operation!.status, 'succeeded', JSON.stringify(verified.operation));
            }
          };
          await verifyAll();
          // The failed protect's writer lease could not be released while the server was down:
          // until it expires gc refuses (STORE_BUSY naming it) and removes nothing.
          let report: GcReport;
          try {
            report = await collectGarbage(provider);
          } catch (error) {
            if (!(error instanceof HoardError && error.code === 'STORE_BUSY')) throw error;
            assert.ok(error.message.includes(firstId!), error.message);
            const writers = error.details?.writers as { expiresAt: number }[];
            await sleep(Math.max(...writers.map((w) => w.expiresAt)) - Date.now() + 200);
            await verifyAll();
            report = await collectGarbage(provider);
          }
          assert.deepEqual(report.lost, []);
          assert.equal(report.blobsMissing, 0);
          assert.deepEqual(report.problems, []);
          await verifyAll();
          const target = join(dir, `restored-${encryption ? 'sealed' : 'plain'}`);
          await restore(second.checkpoint.id, provider, { target });
          assert.deepEqual(await treeSums(target, sums.keys()), sums);
        } finally {
          await proxy.close();
          await removeBucket(server, bucket);
        }
      });
    }

    it('a cancel while the server hangs on the data ends the protect at once: the hooks stop waiting for their requests', {
      timeout: 60_000,
    }, async () => {
      const bucket = await freshBucket(server, 'hang');
      let hung = 0;
      // Packs go unanswered from the second on (the idle timeout is the default 2 minutes); the
      // rest (journal, statuses, leases) is forwarded.
      let packs = 0;
      const proxy = await startProxy(server.endpoint, {
        onRequest: (req) => {
          const url = req.url ?? '';
          if (!url.includes('/store/packs/')) return 'forward';
          if (++packs === 1) return 'forward';
          hung++;
          return 'hang';
        },
      });
      try {
        const provider = await s3Provider(
          '6',
          's3-hang',
          'an s3 bank behind a proxy that stops answering for packs',
          {
            bucket,
            endpoint: proxy.endpoint,
          },
        );
        const controller = new AbortController();
        const waiting = setInterval(() => {
          if (hung > 0) controller.abort(new Error('Ctrl-C'));
        }, 50);
        let cancelledAt = 0;
        controller.signal.addEventListener('abort', () => {
          cancelledAt = Date.now();
        });
        try {
          const result = await protect(files, provider, { signal: controller.signal });
          const ended = Date.now() - cancelledAt;
          assert.ok(cancelledAt > 0, 'the protect reached the hanging server');
          assert.ok(ended < 15_000, `the protect ended ${ended} ms after the cancel`);
          assert.equal(result.checkpoint.status, 'error', JSON.stringify(result.checkpoint));
          assert.match(JSON.stringify(result.operation), /cancel/i);
        } finally {
          clearInterval(waiting);
        }
      } finally {
        await proxy.close();
        await removeBucket(server, bucket);
      }
    });
  });
}
