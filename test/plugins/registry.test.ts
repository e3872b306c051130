/**
 * Loading plugins: a factory that throws anything, returns something that is not a plugin
 * or never returns is a provider problem naming the plugin; the provider does not load and
 * every other provider still does.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { HoardError } from '../../src/errors.js';
import { loadPlugin, PluginRegistry } from '../../src/plugins/registry.js';
import type { PluginFactory, ProtectionPlugin } from '../../src/plugins/sdk.js';
import { loadProviders } from '../../src/providers/provider.js';

const isProviderInvalid = (message: RegExp) => (error: unknown) => {
  assert.ok(error instanceof HoardError, `not a HoardError: ${String(error)}`);
  assert.equal(error.code, 'PROVIDER_INVALID');
  assert.match(error.message, message);
  return true;
};

const load = (factory: unknown, options: { timeoutMs?: number } = {}) =>
  loadPlugin('test.factory', {}, new Map([['test.factory', factory as PluginFactory]]), '/', options);

const ok = { name: 'ok', types: [{ type: 'ok' }], operation: () => undefined };

describe('loading a plugin', () => {
  const cases: [string, unknown, RegExp][] = [
    [
      'throws an Error',
      () => {
        throw new Error('no socket');
      },
      /^plugin "test\.factory": its factory threw: no socket$/,
    ],
    [
      'throws a string',
      () => {
        throw 'no socket';
      },
      /its factory threw a string \("no socket"\), not an Error$/,
    ],
    [
      'throws undefined',
      () => {
        throw undefined;
      },
      /its factory threw undefined, not an Error$/,
    ],
    ['rejects with undefined', () => Promise.reject(undefined), /its factory threw undefined, not an Error$/],
    [
      'returns undefined',
      () => undefined,
      /did not return a protection plugin: it is undefined, not an object/,
    ],
    ['returns a string', () => 'exec.task', /it is a string \("exec\.task"\), not an object/],
    ['returns no name', () => ({ ...ok, name: 7 }), /its name is a number \(7\), not a non-empty string/],
    ['returns no operation', () => ({ ...ok, operation: {} }), /its operation is an object, not a function/],
    ['returns types that are not a list', () => ({ ...ok, types: 'ok' }), /its types are a string/],
    ['returns a type without a name', () => ({ ...ok, types: [{}] }), /types\[0\]: type is undefined/],
    [
      'returns a schema that is not an object',
      () => ({ ...ok, types: [{ type: 'ok', schemas: { options: 'strict' } }] }),
      /types\[0\] \(ok\): schemas\.options is a string \("strict"\), not a JSON Schema object/,
    ],
    [
      'returns a protectable whose method is not a function',
      () => ({ ...ok, types: [{ type: 'ok', protectable: { getDependentResources: [] } }] }),
      /protectable\.getDependentResources is an array, not a function/,
    ],
    [
      'returns an object whose getter throws',
      () => ({
        ...ok,
        get types() {
          throw new Error('lazy');
        },
      }),
      /reading it threw: lazy/,
    ],
  ];
  for (const [name, factory, message] of cases) {
    it(`whose factory ${name}: PROVIDER_INVALID naming the plugin`, async () => {
      await assert.rejects(load(factory), isProviderInvalid(message));
    });
  }

  it('whose factory never returns: PROVIDER_INVALID after the time allowed, not a hang', async () => {
    await assert.rejects(
      load(() => new Promise(() => {}), { timeoutMs: 50 }),
      isProviderInvalid(/plugin "test\.factory" did not load within 50 ms/),
    );
  });

  it('a registry refuses a plugin that is not one, naming the mistake', () => {
    const registry = new PluginRegistry('p');
    assert.throws(
      () => registry.add({ ...ok, types: [{ type: 'a#b' }] } as ProtectionPlugin),
      isProviderInvalid(
        /^provider p: plugin "ok" is not a protection plugin: types\[0\] \(a#b\): type is a string/,
      ),
    );
    assert.throws(
      () => registry.add(null as unknown as ProtectionPlugin),
      isProviderInvalid(/plugin null is not a protection plugin/),
    );
    assert.deepEqual(registry.names, []);
  });
});

describe('loading providers', () => {
  it('a provider whose plugin factory throws undefined is reported with its file; the others load', async () => {
    const home = await mkdtemp(join(tmpdir(), 'hoard-providers-'));
    const dir = join(home, 'providers');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'throwing-plugin.mjs'), 'export default () => { throw undefined; };\n');
    await writeFile(
      join(dir, 'broken.conf'),
      `[provider]
name = broken
id = 6f1b7a52-2f7e-4c1e-9a57-0d5f3c0b9e11
bank = fs
plugin = exec.task
plugin = ./throwing-plugin.mjs
`,
    );
    await writeFile(
      join(dir, 'fine.conf'),
      `[provider]
name = fine
id = 6f1b7a52-2f7e-4c1e-9a57-0d5f3c0b9e12
bank = fs
plugin = noop
`,
    );
    const { providers, problems } = await loadProviders(home);
    assert.deepEqual(providers.map((p) => p.name).sort(), ['fine', 'local']);
    assert.equal(problems.length, 1);
    assert.equal(problems[0]!.file, join(dir, 'broken.conf'));
    assert.equal(problems[0]!.code, 'PROVIDER_INVALID');
    assert.match(
      problems[0]!.message,
      /plugin "\.\/throwing-plugin\.mjs": its factory threw undefined, not an Error/,
    );
  });
});
