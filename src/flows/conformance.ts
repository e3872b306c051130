/**
 * The plugin conformance kit (`hoard/testkit`): the checks every plugin should pass, run over
 * one resource with {@link PluginHarness}, as restic runs every backend through one suite.
 * A fixture says how to make a restore target, how to read the data back and what equal
 * means; the kit does the rest and reports each check as passed, failed (with why) or skipped
 * (with the fixture's reason).
 *
 * The checks:
 * - `round trip`: protect, then restore into a new target, gives what `source()` gives;
 * - `verify finds a corrupted byte`: verify succeeds on the checkpoint, and fails once one
 *   byte of its data (the largest object of its section or of the content store's packs,
 *   unless the fixture picks another) is flipped;
 * - `restore refuses a non-empty target`: a restore into a target `fill()` wrote to fails
 *   without `overwrite`, and succeeds with `overwrite: true`, giving the source's data;
 * - `cancel leaves no temporary data`: a protect, then a restore, cancelled as their main
 *   hook starts working (its first progress report, or its start) leave nothing in a fresh
 *   `TMPDIR` and nothing the fixture's `leftovers()` finds;
 * - `delete leaves no keys`: delete succeeds and adds no key; once Hoard removes the
 *   checkpoint's section and collects the store's unreferenced packs, the bank is empty.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { encodeSegment } from '../checkpoints/keys.js';
import type { ProtectionPlugin } from '../plugins/sdk.js';
import { type Resource, resourceKey } from '../resources/resource.js';
import { ContentStore } from '../store/index.js';
import type { OperationLog } from './operation.js';
import { PluginHarness } from './testkit.js';

/** The names of the kit's checks, in the order they run. */
export const CONFORMANCE_CHECKS = [
  'round trip',
  'verify finds a corrupted byte',
  'restore refuses a non-empty target',
  'cancel leaves no temporary data',
  'delete leaves no keys',
] as const;
export type ConformanceCheck = (typeof CONFORMANCE_CHECKS)[number];

/** What the kit needs to know of one resource of the plugin. */
export interface ConformanceFixture {
  /** The resource protected (its type one of the plugin's); its data must exist when the kit runs. */
  resource: Resource;
  /** Protect parameters for it (the plan's `parameters` for its `type#id`). Default none. */
  parameters?: Record<string, unknown>;
  /** The data as protected, in a form `isDeepStrictEqual` compares (bytes, rows, a listing …). */
  source(): Promise<unknown>;
  /** Restore parameters naming a new, empty target (without `overwrite`); called once per restore. */
  target(): Promise<Record<string, unknown>>;
  /** The data restored where `target` (its parameters) says, in the form `source()` gives. */
  restored(target: Record<string, unknown>): Promise<unknown>;
  /** Makes that target hold something already (a file, a database), so a restore must refuse it. */
  fill(target: Record<string, unknown>): Promise<void>;
  /**
   * Temporary data a cancelled restore into `target` may have left where `TMPDIR` does not
   * cover it (temporary files beside the target, scratch databases): a description of each.
   * Default: nothing is looked for.
   */
  leftovers?(target: Record<string, unknown>): Promise<string[]>;
  /** The object whose middle byte the verify check flips, among `keys`. Default: the largest. */
  corrupt?(keys: readonly { key: string; size: number }[]): string;
  /** Checks that do not apply, each with the reason (it is reported with the skip). */
  skip?: Partial<Record<ConformanceCheck, string>>;
}

/** One check's outcome. */
export interface ConformanceResult {
  check: ConformanceCheck;
  status: 'passed' | 'failed' | 'skipped';
  /** Why it failed, or the fixture's reason to skip it. */
  reason?: string;
}

/** A check's failure, with what it saw. */
class CheckFailed extends Error {}

/**
 * Runs every check against `plugin` with `fixtures` (one resource each), and gives one result
 * per check and fixture, in order. It never throws for a plugin's failure: a check that
 * failed says why in `reason` (assert `results.every((r) => r.status !== 'failed')`).
 */
export async function pluginConformance(
  plugin: ProtectionPlugin,
  fixtures: ConformanceFixture | readonly ConformanceFixture[],
): Promise<ConformanceResult[]> {
  const results: ConformanceResult[] = [];
  for (const fixture of Array.isArray(fixtures) ? fixtures : [fixtures as ConformanceFixture]) {
    const kit = new Kit(plugin, fixture);
    for (const check of CONFORMANCE_CHECKS) {
      const skip = fixture.skip?.[check];
      if (skip !== undefined) {
        results.push({ check, status: 'skipped', reason: skip });
        continue;
      }
      try {
        await kit.run(check);
        results.push({ check, status: 'passed' });
      } catch (error) {
        const why = error instanceof Error ? error.message : String(error);
        results.push({ check, status: 'failed', reason: `${resourceKey(fixture.resource)}: ${why}` });
      }
    }
  }
  return results;
}

const CHECKPOINT = '20260101T000000000Z-00000000';

class Kit {
  private readonly key: string;

  constructor(
    private readonly plugin: ProtectionPlugin,
    private readonly fixture: ConformanceFixture,
  ) {
    this.key = resourceKey(fixture.resource);
  }

  run(check: ConformanceCheck): Promise<void> {
    switch (check) {
      case 'round trip':
        return this.roundTrip();
      case 'verify finds a corrupted byte':
        return this.verifyFindsCorruption();
      case 'restore refuses a non-empty target':
        return this.refusesNonEmptyTarget();
      case 'cancel leaves no temporary data':
        return this.cancelLeavesNothing();
      case 'delete leaves no keys':
        return this.deleteLeavesNoKeys();
    }
  }

  /** A harness on a fresh bank, with the fixture's checkpoint protected. */
  private async protected(): Promise<PluginHarness> {
    const harness = new PluginHarness({
      plugins: [this.plugin],
      resources: [{ resource: this.fixture.resource, children: [] }],
      parameters: this.fixture.parameters ? { [this.key]: this.fixture.parameters } : {},
      checkpointId: CHECKPOINT,
    });
    expect(await harness.run('protect'), 'succeeded', 'protect');
    return harness;
  }

  private restore(harness: PluginHarness, target: Record<string, unknown>, signal?: AbortSignal) {
    return harness.run('restore', { [this.key]: target }, signal ? this.cancelling(signal) : {});
  }

  private async sameAsSource(target: Record<string, unknown>, what: string): Promise<void> {
    const [source, restored] = [await this.fixture.source(), await this.fixture.restored(target)];
    if (!isDeepStrictEqual(restored, source))
      throw new CheckFailed(
        `${what} gave data other than the source's: ${show(restored)} where ${show(source)}`,
      );
  }

  private async roundTrip(): Promise<void> {
    const harness = await this.protected();
    const target = await this.fixture.target();
    expect(await this.restore(harness, target), 'succeeded', 'restore');
    await this.sameAsSource(target, 'restore');
  }

  private async verifyFindsCorruption(): Promise<void> {
    const harness = await this.protected();
    expect(await harness.run('verify'), 'succeeded', 'verify of the untouched checkpoint');
    const section = `checkpoints/${CHECKPOINT}/resources/${encodeSegment(this.key)}/`;
    const keys: { key: string; size: number }[] = [];
    for (const key of await harness.bank.list('')) {
      if (!key.startsWith(section) && !key.startsWith('store/packs/')) continue;
      keys.push({ key, size: (await harness.bank.get(key)).length });
    }
    const chosen = this.fixture.corrupt
      ? this.fixture.corrupt(keys)
      : keys.reduce<{ key: string; size: number } | undefined>(
          (a, b) => (a && a.size >= b.size ? a : b),
          undefined,
        )?.key;
    if (chosen === undefined) throw new CheckFailed('protect stored nothing to corrupt');
    const bytes = Buffer.from(await harness.bank.get(chosen));
    if (bytes.length === 0) throw new CheckFailed(`${chosen} is empty: no byte to corrupt`);
    const at = Math.floor(bytes.length / 2);
    bytes[at] = bytes[at]! ^ 0x01;
    await harness.bank.put(chosen, bytes);
    const verify = await harness.run('verify');
    if (verify.status === 'succeeded')
      throw new CheckFailed(
        `verify succeeded after byte ${at} of ${chosen} (${bytes.length} bytes) was flipped`,
      );
  }

  private async refusesNonEmptyTarget(): Promise<void> {
    const harness = await this.protected();
    const target = await this.fixture.target();
    await this.fixture.fill(target);
    const refused = await this.restore(harness, target);
    if (refused.status === 'succeeded')
      throw new CheckFailed('restore into a non-empty target without overwrite succeeded');
    const replaced = await this.restore(harness, { ...target, overwrite: true });
    expect(replaced, 'succeeded', 'restore with overwrite: true into a non-empty target');
    await this.sameAsSource(target, 'restore with overwrite');
  }

  private async cancelLeavesNothing(): Promise<void> {
    const scratch = await mkdtemp(join(tmpdir(), 'hoard-conformance-'));
    const before = process.env.TMPDIR;
    process.env.TMPDIR = scratch; // what os.tmpdir() answers from now on, here and in new processes
    try {
      const found: string[] = [];
      const harness = new PluginHarness({
        plugins: [this.plugin],
        resources: [{ resource: this.fixture.resource, children: [] }],
        parameters: this.fixture.parameters ? { [this.key]: this.fixture.parameters } : {},
        checkpointId: CHECKPOINT,
      });
      const cancelled = new AbortController();
      await harness.run(
        'protect',
        {},
        this.cancelling(cancelled.signal, () => cancelled.abort()),
      );
      found.push(...(await left(scratch)).map((e) => `${e} (in TMPDIR after a cancelled protect)`));
      const whole = await this.protected();
      const target = await this.fixture.target();
      const cancelRestore = new AbortController();
      await whole.run(
        'restore',
        { [this.key]: target },
        this.cancelling(cancelRestore.signal, () => cancelRestore.abort()),
      );
      found.push(...(await left(scratch)).map((e) => `${e} (in TMPDIR after a cancelled restore)`));
      for (const thing of (await this.fixture.leftovers?.(target)) ?? [])
        found.push(`${thing} (after a cancelled restore)`);
      if (found.length > 0) throw new CheckFailed(`left temporary data: ${found.join(', ')}`);
    } finally {
      if (before === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = before;
      await rm(scratch, { recursive: true, force: true });
    }
  }

  /** Run options that abort (with `abort`) once the resource's main hook is working. */
  private cancelling(signal: AbortSignal, abort?: () => void) {
    if (!abort) return { signal };
    let fired = false;
    const fire = () => {
      if (fired) return;
      fired = true;
      abort();
    };
    return {
      signal,
      onEvent: (
        event: { type: string; state?: string },
        task: { resource: string; hook: string } | undefined,
      ) => {
        if (task?.resource !== this.key || task.hook !== 'main') return;
        // Its first progress report, or, for a hook that reports none, just after it started.
        if (event.type === 'progress') fire();
        else if (event.type === 'state' && event.state === 'running') setImmediate(fire);
      },
    };
  }

  private async deleteLeavesNoKeys(): Promise<void> {
    const harness = await this.protected();
    const before = new Set(await harness.bank.list(''));
    expect(await harness.run('delete'), 'succeeded', 'delete');
    const added = (await harness.bank.list('')).filter((k) => !before.has(k));
    if (added.length > 0) throw new CheckFailed(`delete added keys: ${added.join(', ')}`);
    // What Hoard does after the plugin's delete: the checkpoint's keys go, then the store's
    // garbage collection removes what no checkpoint references.
    for (const key of await harness.bank.list(`checkpoints/${CHECKPOINT}/`)) await harness.bank.delete(key);
    const store = new ContentStore(harness.bank);
    await store.prune(async () => new Set(), { owner: 'conformance' });
    const remaining = (await harness.bank.list('')).filter((k) => !k.startsWith('store/config'));
    if (remaining.length > 0)
      throw new CheckFailed(`keys remain after delete and collection: ${remaining.join(', ')}`);
  }
}

function expect(log: OperationLog, status: OperationLog['status'], what: string): void {
  if (log.status === status) return;
  const errors = log.tasks.filter((t) => t.error).map((t) => `${t.resource} ${t.hook}: ${t.error!.message}`);
  throw new CheckFailed(
    `${what} ended ${log.status}, not ${status}${errors.length ? `: ${errors.join('; ')}` : ''}`,
  );
}

/** The entries `dir` holds (recursively, relative), for the leftovers message. */
async function left(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String);
}

function show(value: unknown): string {
  const text = Buffer.isBuffer(value) ? `<${value.length} bytes>` : JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
