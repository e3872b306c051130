/**
 * Where `plugin = NAME` is found (HOME/plugins/node_modules first), what a plugin's `import
 * 'hoard'` gets, the SDK version check at load time, and which provider-file section holds a
 * plugin's settings. Packages are written by hand here (no npm): test/cli/plugins.test.ts
 * runs npm.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { HoardError, PluginHarness, SDK_VERSION } from '../../src/index.js';
import { resolveInstalled } from '../../src/plugins/resolve.js';
import { loadProviders } from '../../src/providers/provider.js';

const ID = '6f1b7a52-2f7e-4c1e-9a57-0d5f3c0b9e41';

async function home(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'hoard-packages-'));
  await mkdir(join(dir, 'providers'), { recursive: true });
  return dir;
}

/** A package in HOME/plugins/node_modules, as npm would leave it. */
async function installByHand(dir: string, name: string, files: Record<string, string>, pkg: object) {
  const folder = join(dir, 'plugins', 'node_modules', name);
  await mkdir(folder, { recursive: true });
  await writeFile(
    join(folder, 'package.json'),
    JSON.stringify({ name, version: '1.2.3', type: 'module', ...pkg }),
  );
  for (const [file, text] of Object.entries(files)) {
    await mkdir(join(folder, file, '..'), { recursive: true });
    await writeFile(join(folder, file), text);
  }
}

async function provider(dir: string, lines: string[]) {
  await writeFile(
    join(dir, 'providers', 'p.conf'),
    ['[provider]', 'name = p', `id = ${ID}`, 'bank = fs', ...lines, ''].join('\n'),
  );
  return loadProviders(dir);
}

describe('plugin packages in HOME/plugins', () => {
  it('plugin = NAME loads the package from HOME/plugins/node_modules through its exports, and its import of hoard is this installation', async () => {
    const dir = await home();
    await installByHand(
      dir,
      '@acme/hoard-plugin-echo',
      {
        'dist/index.js': `import { HoardError, SDK_VERSION } from 'hoard';
export { HoardError };
export default (settings) => ({
  name: 'echo', sdkVersion: SDK_VERSION, description: String(settings.word),
  types: [{ type: 'echo' }], operation: () => undefined,
});
`,
      },
      { exports: { '.': { types: './dist/index.d.ts', import: './dist/index.js' } } },
    );
    const { providers, problems } = await provider(dir, [
      'plugin = @acme/hoard-plugin-echo',
      '[echo]',
      'word = hi',
    ]);
    assert.deepEqual(problems, []);
    const p = providers.find((x) => x.name === 'p')!;
    assert.deepEqual(p.registry.names, ['echo']);
    assert.equal(p.registry.list()[0]!.description, 'hi');
    const entry = await resolveInstalled(dir, '@acme/hoard-plugin-echo');
    assert.equal(
      entry,
      join(dir, 'plugins', 'node_modules', '@acme', 'hoard-plugin-echo', 'dist', 'index.js'),
    );
    const module = (await import(entry!)) as { HoardError: unknown };
    assert.equal(module.HoardError, HoardError, 'the very SDK that loads it');
  });

  it('a package built for another major of the SDK is PLUGIN_SDK_MISMATCH naming package, versions and the way out', async () => {
    const dir = await home();
    await installByHand(
      dir,
      'hoard-plugin-old',
      {
        'index.js':
          "export default () => ({ name: 'old', sdkVersion: '0.9.0', types: [{ type: 'old' }], operation: () => undefined });\n",
      },
      { main: 'index.js' },
    );
    const { providers, problems } = await provider(dir, ['plugin = hoard-plugin-old']);
    assert.deepEqual(
      providers.map((x) => x.name),
      ['local'],
    );
    assert.equal(problems[0]!.code, 'PLUGIN_SDK_MISMATCH');
    assert.match(
      problems[0]!.message,
      /p\.conf: plugin package "hoard-plugin-old" \(plugin "old"\): it was built for plugin SDK 0\.9\.0, and this Hoard has SDK 1\.0\.0; install a version of it built for SDK 1\.x \(hoard plugins install hoard-plugin-old@VERSION\), or run a Hoard whose SDK is 0\.x$/,
    );
  });

  it('a package that exports no factory is PLUGIN_INVALID; one that is not there PLUGIN_UNKNOWN saying how to install it', async () => {
    const dir = await home();
    await installByHand(dir, 'hoard-plugin-empty', { 'index.js': 'export const nothing = 1;\n' }, {});
    const empty = await provider(dir, ['plugin = hoard-plugin-empty']);
    assert.equal(empty.problems[0]!.code, 'PLUGIN_INVALID');
    assert.match(
      empty.problems[0]!.message,
      /exports no plugin factory \(its default or "plugin" export is undefined/,
    );
    const missing = await provider(dir, ['plugin = hoard-plugin-missing']);
    assert.equal(missing.problems[0]!.code, 'PLUGIN_UNKNOWN');
    assert.match(
      missing.problems[0]!.message,
      /install it with "hoard plugins install hoard-plugin-missing"$/,
    );
  });
});

describe("a plugin's settings section", () => {
  const recorder = `export default (settings) => ({
  name: 'greeter', description: JSON.stringify(settings),
  types: [{ type: 'greeting' }], operation: () => undefined,
});
`;

  it("is named after the plugin's name, not the plugin = line", async () => {
    const dir = await home();
    await writeFile(join(dir, 'providers', 'greeter.mjs'), recorder);
    const { providers, problems } = await provider(dir, ['plugin = ./greeter.mjs', '[greeter]', 'word = hi']);
    assert.deepEqual(problems, []);
    assert.equal(providers.find((x) => x.name === 'p')!.registry.list()[0]!.description, '{"word":"hi"}');
  });

  it('a section named as the plugin = line still works; both at once is refused', async () => {
    const dir = await home();
    await writeFile(join(dir, 'providers', 'greeter.mjs'), recorder);
    const old = await provider(dir, ['plugin = ./greeter.mjs', '[./greeter.mjs]', 'word = old']);
    assert.equal(
      old.providers.find((x) => x.name === 'p')!.registry.list()[0]!.description,
      '{"word":"old"}',
    );
    const both = await provider(dir, [
      'plugin = ./greeter.mjs',
      '[./greeter.mjs]',
      'word = old',
      '[greeter]',
      'word = new',
    ]);
    assert.equal(both.problems[0]!.code, 'PROVIDER_INVALID');
    assert.match(both.problems[0]!.message, /settings are in both \[\.\/greeter\.mjs\] and \[greeter\]/);
  });
});

describe('the SDK version in the test kit', () => {
  it('exports its version, and refuses a plugin built for another major', () => {
    assert.match(SDK_VERSION, /^\d+\.\d+\.\d+$/);
    const plugin = (sdkVersion: unknown) =>
      new PluginHarness({
        plugins: [{ name: 'v', sdkVersion, types: [{ type: 'v' }], operation: () => undefined } as never],
        resources: [],
      });
    assert.throws(() => plugin('2.0.0'), {
      code: 'PLUGIN_SDK_MISMATCH',
      message: /built for plugin SDK 2\.0\.0/,
    });
    assert.throws(() => plugin(2), { code: 'PROVIDER_INVALID', message: /sdkVersion is a number \(2\)/ });
    plugin(`${SDK_VERSION.split('.')[0]}.99.0`);
  });

  it("the harness's log records a failed hook's error after the hooks' own lines, naming the resource once", async () => {
    const harness = new PluginHarness({
      plugins: [
        {
          name: 'f',
          types: [{ type: 'f' }],
          operation: () => ({
            onMain(ctx) {
              ctx.log('about to fail');
              throw new Error('disk full');
            },
          }),
        },
      ],
      resources: [{ resource: { type: 'f', id: 'x' }, children: [] }],
    });
    const log = await harness.run('protect');
    assert.deepEqual(log.log, ['f#x main: about to fail', 'f#x main failed: HOOK_FAILED disk full']);
  });
});
