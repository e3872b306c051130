/** A provider, plans and source trees for running the flows in-process. */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsBank } from '../../src/bank/index.js';
import { type Plan, parsePlan } from '../../src/plans/plan.js';
import { BUILTIN_PLUGINS } from '../../src/plugins/builtins.js';
import { PluginRegistry } from '../../src/plugins/registry.js';
import type { ProtectionPlugin } from '../../src/plugins/sdk.js';
import type { Provider } from '../../src/providers/provider.js';

export interface Fixture {
  dir: string;
  provider: Provider;
  done(): Promise<void>;
}

/** An fs bank in a fresh directory, every built-in plugin plus `extra`. */
export async function fixture(extra: ProtectionPlugin[] = []): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'hoard-flow-'));
  const registry = new PluginRegistry('test');
  for (const factory of BUILTIN_PLUGINS.values()) registry.add(await factory({}));
  for (const plugin of extra) registry.add(plugin);
  const provider: Provider = {
    id: '00000000-0000-4000-8000-000000000001',
    name: 'test',
    description: 'in-process test provider',
    bankType: 'fs',
    encryption: 'none',
    bank: new FsBank(join(dir, 'bank')),
    registry,
    file: undefined,
    settings: {},
  };
  return { dir, provider, done: () => rm(dir, { recursive: true, force: true }) };
}

/** A plan from YAML text. */
export function plan(yaml: string): Plan {
  return parsePlan(yaml, 'test-plan.yaml');
}

/** Files of random bytes under `root` (sizes in bytes); their SHA-256 by relative path. */
export async function sourceTree(root: string, sizes: Record<string, number>): Promise<Map<string, string>> {
  const sums = new Map<string, string>();
  for (const [path, size] of Object.entries(sizes)) {
    const file = join(root, path);
    await mkdir(join(file, '..'), { recursive: true });
    const data = randomBytes(size);
    await writeFile(file, data);
    sums.set(path, sha256(data));
  }
  return sums;
}

/** The SHA-256 of each file of `sums` as found under `root` now. */
export async function treeSums(root: string, paths: Iterable<string>): Promise<Map<string, string>> {
  const sums = new Map<string, string>();
  for (const path of paths) sums.set(path, sha256(await readFile(join(root, path))));
  return sums;
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
