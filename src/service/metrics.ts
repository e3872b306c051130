/**
 * `/metrics` in Prometheus' text format (prom-client): operations by kind and status (as
 * recorded in the catalog, so every server of a shared catalog agrees), operation durations
 * seen by this server, bytes each provider's bank wrote and read, and each bank's object
 * count (counted at most once a minute, in the background: listing a big bank is not free).
 */
import { pipeline, type Readable, Transform } from 'node:stream';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Bank, PutData, ReadOptions } from '../bank/index.js';
import type { Catalog, OperationLogRecord } from '../catalog/index.js';
import type { Provider } from '../providers/provider.js';

/** How long the first scrape waits for a bank's first object count. */
const FIRST_COUNT_MS = 5_000;

export class Metrics {
  readonly registry = new Registry();
  private readonly duration: Histogram<'kind' | 'status'>;
  private readonly written: Counter<'provider'>;
  private readonly read: Counter<'provider'>;
  private readonly objects = new Map<
    string,
    { count: number; at: number; counting: Promise<void> | undefined }
  >();

  constructor(catalog: Catalog, providers: () => Promise<Provider[]>) {
    this.duration = new Histogram({
      name: 'hoard_operation_duration_seconds',
      help: 'Duration of operations run by this server, by kind and final status',
      labelNames: ['kind', 'status'],
      buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 14400],
      registers: [this.registry],
    });
    this.written = new Counter({
      name: 'hoard_bank_bytes_written_total',
      help: "Bytes this server wrote into each provider's bank",
      labelNames: ['provider'],
      registers: [this.registry],
    });
    this.read = new Counter({
      name: 'hoard_bank_bytes_read_total',
      help: "Bytes this server read from each provider's bank",
      labelNames: ['provider'],
      registers: [this.registry],
    });
    new Gauge({
      name: 'hoard_operations',
      help: 'Operation logs in the catalog, by kind and status',
      labelNames: ['kind', 'status'],
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const row of await catalog.operationCounts())
          this.set({ kind: row.kind, status: row.status }, row.count);
      },
    });
    const objects = this.objects;
    const count = (p: Provider) => this.countObjects(p);
    new Gauge({
      name: 'hoard_bank_objects',
      help: "Objects in each provider's bank (recounted at most once a minute)",
      labelNames: ['provider'],
      registers: [this.registry],
      async collect() {
        const all = await providers();
        // A bank never counted yet is waited for (up to FIRST_COUNT_MS), so the first scrape
        // has a value; later scrapes show the last count while a recount runs.
        const first = all.map(count).filter((c): c is Promise<void> => c !== undefined);
        if (first.length) {
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([
            Promise.all(first),
            new Promise((resolve) => {
              timer = setTimeout(resolve, FIRST_COUNT_MS);
            }),
          ]);
          clearTimeout(timer);
        }
        for (const provider of all) {
          const known = objects.get(provider.id);
          if (known && known.at > 0) this.set({ provider: provider.name }, known.count);
        }
      },
    });
  }

  finished(log: OperationLogRecord): void {
    if (!log.startedAt || !log.endedAt) return;
    const seconds = (Date.parse(log.endedAt) - Date.parse(log.startedAt)) / 1000;
    this.duration.observe({ kind: log.kind, status: log.status }, seconds);
  }

  /** The provider with its bank counting bytes in and out. */
  instrument(provider: Provider): Provider {
    const labels = { provider: provider.name };
    return {
      ...provider,
      bank: countingBank(
        provider.bank,
        (n) => this.written.inc(labels, n),
        (n) => this.read.inc(labels, n),
      ),
    };
  }

  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** Starts a recount if the last is over a minute old; returns it while the bank was never counted. */
  private countObjects(provider: Provider): Promise<void> | undefined {
    const known = this.objects.get(provider.id) ?? {
      count: 0,
      at: 0,
      counting: undefined as Promise<void> | undefined,
    };
    this.objects.set(provider.id, known);
    if (known.counting) return known.at === 0 ? known.counting : undefined;
    if (Date.now() - known.at < 60_000) return undefined;
    known.counting = (async () => {
      let count = 0;
      for (let marker: string | undefined; ; ) {
        const keys = await provider.bank.list('', { limit: 10_000, ...(marker ? { marker } : {}) });
        count += keys.length;
        if (keys.length < 10_000) break;
        marker = keys[keys.length - 1];
      }
      known.count = count;
      known.at = Date.now();
    })()
      .catch(() => {})
      .finally(() => {
        known.counting = undefined;
      });
    return known.at === 0 ? known.counting : undefined;
  }
}

/** A bank that reports the bytes going through put, get and getStream (sections too). */
function countingBank(bank: Bank, wrote: (n: number) => void, read: (n: number) => void): Bank {
  return new Proxy(bank, {
    get(target, property, receiver) {
      switch (property) {
        case 'put':
          return (key: string, data: PutData) => target.put(key, countPut(data, wrote));
        case 'get':
          return async (key: string, options?: ReadOptions) => {
            const bytes = await target.get(key, options);
            read(bytes.length);
            return bytes;
          };
        case 'getStream':
          return async (key: string) => countStream(await target.getStream(key), read);
        case 'section':
          return (prefix: string, options?: object) =>
            countingBank(target.section(prefix, options), wrote, read);
        case 'withSignal':
          return (signal: AbortSignal) => countingBank(target.withSignal(signal), wrote, read);
        default: {
          const value = Reflect.get(target, property, receiver);
          return typeof value === 'function' ? value.bind(target) : value;
        }
      }
    },
  });
}

function countPut(data: PutData, wrote: (n: number) => void): PutData {
  if (typeof data === 'string') {
    wrote(Buffer.byteLength(data));
    return data;
  }
  if (data instanceof Uint8Array) {
    wrote(data.length);
    return data;
  }
  const source = data as AsyncIterable<Uint8Array>;
  return (async function* () {
    for await (const chunk of source) {
      wrote(chunk.length);
      yield chunk;
    }
  })();
}

function countStream(stream: Readable, read: (n: number) => void): Readable {
  const counted = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      read(chunk.length);
      done(null, chunk);
    },
  });
  // pipeline, not pipe: a reader that stops early (the content store stops at a pack's last
  // wanted blob) destroys `counted`, and the source must close with it, or its file handle is
  // left for the garbage collector (DEP0137). An error on either side destroys both.
  pipeline(stream, counted, () => {});
  return counted;
}
