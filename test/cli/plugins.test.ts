/**
 * `hoard plugins install | list | remove` with the real npm, and the template plugin in
 * examples/plugins/jsonfile taken the whole way a third-party author takes it: built with
 * TypeScript, its own harness tests run, installed from its folder into a fresh home, named
 * by package in a provider file, and used by protect and restore through the CLI.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, realpath, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { hoard, oneLine } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const EXAMPLE = join(ROOT, 'examples', 'plugins', 'jsonfile');

/** `hoard --home HOME ARGS…`, run from `cwd`. */
function run(home: string, args: string[]) {
  return hoard(['--home', home, ...args]);
}

/** What `npm install` in the example would give it, offline: links to this checkout's packages. */
async function buildExample(dir: string): Promise<string> {
  const copy = join(dir, 'hoard-plugin-jsonfile');
  await cp(EXAMPLE, copy, { recursive: true, filter: (src) => !/[/\\](node_modules|build)$/.test(src) });
  await mkdir(join(copy, 'node_modules', '@types'), { recursive: true });
  await symlink(ROOT, join(copy, 'node_modules', 'hoard'));
  await symlink(join(ROOT, 'node_modules', 'typescript'), join(copy, 'node_modules', 'typescript'));
  await symlink(join(ROOT, 'node_modules', '@types', 'node'), join(copy, 'node_modules', '@types', 'node'));
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { cwd: copy });
  // Its own tests, with Hoard's test kit: they must pass before it is installed.
  execFileSync(process.execPath, ['--test', 'build/test/'], { cwd: copy, stdio: 'pipe' });
  return copy;
}

/** A package folder with `files`: package.json and index.js. */
async function writePackage(dir: string, name: string, index: string, extra: Record<string, unknown> = {}) {
  const folder = join(dir, name);
  await mkdir(folder, { recursive: true });
  await writeFile(
    join(folder, 'package.json'),
    JSON.stringify({ name, version: '1.0.0', type: 'module', main: 'index.js', ...extra }),
  );
  await writeFile(join(folder, 'index.js'), index);
  return folder;
}

describe('the template plugin in examples/plugins, end to end', () => {
  it('builds, passes its own tests, installs by folder, and protects and restores by package name', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hoard-cli-plugins-'));
    const home = join(dir, 'home');
    const example = await buildExample(dir);

    const installed = await run(home, ['--json', 'plugins', 'install', example]);
    assert.equal(installed.code, 0, installed.stderr);
    const plugin = JSON.parse(installed.stdout).plugin;
    assert.equal(plugin.package, 'hoard-plugin-jsonfile');
    assert.equal(plugin.plugin, 'json.file');
    assert.deepEqual(plugin.types, ['json.file']);
    assert.equal(plugin.sdkVersion, '1.0.0');
    // Its `import 'hoard'` gets this installation, never the registry's package of that name.
    assert.equal(await realpath(join(home, 'plugins', 'node_modules', 'hoard')), await realpath(ROOT));

    const listed = await run(home, ['--json', 'plugins', 'list']);
    assert.deepEqual(
      JSON.parse(listed.stdout).plugins.map((p: { package: string; version: string }) => [
        p.package,
        p.version,
      ]),
      [['hoard-plugin-jsonfile', '1.0.0']],
    );

    await mkdir(join(home, 'providers'), { recursive: true });
    const conf = (maxBytes: number) =>
      [
        '[provider]',
        'name = apps',
        'id = 6f1b7a52-2f7e-4c1e-9a57-0d5f3c0b9e31',
        'bank = fs',
        'plugin = hoard-plugin-jsonfile',
        '[json.file]',
        `max_bytes = ${maxBytes}`,
        '',
      ].join('\n');
    await writeFile(join(home, 'providers', 'apps.conf'), conf(1000));
    const source = join(dir, 'settings.json');
    await writeFile(source, '{"port": 8080, "names": ["a", "b"]}\n');
    const plan = join(dir, 'plan.yaml');
    await writeFile(
      plan,
      `name: app\nprovider: apps\nresources:\n  - {type: json.file, id: app, path: ${source}}\n`,
    );

    const protect = await run(home, ['--json', 'protect', plan]);
    assert.equal(protect.code, 0, protect.stderr);
    const checkpoint = JSON.parse(protect.stdout).checkpoint;
    assert.equal(checkpoint.status, 'available');

    const target = join(dir, 'restored.json');
    const restore = await run(home, ['restore', checkpoint.id, '--target', target]);
    assert.equal(restore.code, 0, restore.stderr);
    assert.deepEqual(await readFile(target), await readFile(source));

    // --overwrite reaches the plugin as `overwrite: true`.
    await writeFile(target, 'changed');
    const refused = await run(home, ['restore', checkpoint.id, '--target', target]);
    assert.equal(refused.code, 1);
    assert.match(refused.stdout, /restore with --overwrite to replace it/);
    assert.equal(await readFile(target, 'utf8'), 'changed');
    const overwrite = await run(home, ['restore', checkpoint.id, '--target', target, '--overwrite']);
    assert.equal(overwrite.code, 0, overwrite.stderr);
    assert.deepEqual(await readFile(target), await readFile(source));

    // The settings come from [json.file], the plugin's name; a failure names the resource once.
    await writeFile(join(home, 'providers', 'apps.conf'), conf(5));
    const tooBig = await run(home, ['protect', plan]);
    assert.equal(tooBig.code, 1);
    const failed = tooBig.stdout.split('\n').filter((l) => /more than max_bytes \(5\)/.test(l));
    assert.equal(failed.length, 2, tooBig.stdout);
    for (const line of failed) assert.equal(line.split('json.file#app').length, 2, line);

    const removed = await run(home, ['plugins', 'remove', 'hoard-plugin-jsonfile']);
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, /apps\.conf still names it/);
    const after = await run(home, ['--json', 'protect', plan]);
    assert.equal(after.code, 2);
    assert.match(
      after.stderr,
      /no provider "apps".*apps\.conf did not load: plugin "hoard-plugin-jsonfile" is not built in .*, and no package "hoard-plugin-jsonfile" is installed in .*plugins\/node_modules nor in Hoard's installation: install it with "hoard plugins install hoard-plugin-jsonfile"/,
    );
  });
});

describe('hoard plugins: mistakes', () => {
  it('a package that exports no plugin, or one built for another SDK major, is refused and not kept', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hoard-cli-plugins-bad-'));
    const home = join(dir, 'home');
    const none = await writePackage(dir, 'hoard-plugin-none', 'export const x = 1;\n');
    oneLine(
      await run(home, ['plugins', 'install', none]),
      2,
      /^hoard: plugins install .*hoard-plugin-none: plugin "hoard-plugin-none": package .* exports no plugin factory .*\(so it was not kept\)$/,
    );
    const future = await writePackage(
      dir,
      'hoard-plugin-future',
      "export default () => ({ name: 'future', sdkVersion: '2.1.0', types: [{ type: 'f' }], operation: () => undefined });\n",
      { peerDependencies: { hoard: '^2.0.0' } },
    );
    const mismatch = await run(home, ['--json', 'plugins', 'install', future]);
    assert.equal(mismatch.code, 2);
    const error = JSON.parse(mismatch.stdout).error;
    assert.equal(error.code, 'PLUGIN_SDK_MISMATCH');
    assert.match(
      error.message,
      /package "hoard-plugin-future" \(plugin "future"\): it was built for plugin SDK 2\.1\.0, and this Hoard has SDK 1\.0\.0; install a version of it built for SDK 1\.x/,
    );
    const list = await run(home, ['--json', 'plugins', 'list']);
    assert.deepEqual(JSON.parse(list.stdout).plugins, []);
  });

  it('npm failing shows the end of its stderr; no npm, a missing folder and an unknown package are one line each', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hoard-cli-plugins-npm-'));
    const home = join(dir, 'home');
    const broken = join(dir, 'broken');
    await mkdir(broken);
    await writeFile(join(broken, 'package.json'), '{"name": "broken", ');
    const failed = await run(home, ['--json', 'plugins', 'install', broken]);
    assert.equal(failed.code, 1);
    const error = JSON.parse(failed.stdout).error;
    assert.equal(error.code, 'PLUGIN_INSTALL_FAILED');
    assert.match(error.message, /^plugins install .*broken: npm exited 1:\n {2}npm error/);
    assert.match(error.details.stderr, /JSON/);

    oneLine(
      await hoard(['--home', home, 'plugins', 'install', broken], { HOARD_NPM: join(dir, 'no-npm-here') }),
      1,
      /npm was not found .*set HOARD_NPM/,
    );
    oneLine(await run(home, ['plugins', 'install', join(dir, 'nothing')]), 1, /there is no file or folder/);
    oneLine(
      await run(home, ['plugins', 'remove', 'hoard-plugin-absent']),
      2,
      /no plugin package "hoard-plugin-absent" is installed in .*plugins \(none is\)$/,
    );
  });

  it('every subcommand has examples in its --help', async () => {
    for (const sub of ['install', 'list', 'remove']) {
      const help = await hoard(['plugins', sub, '--help']);
      assert.equal(help.code, 0);
      assert.match(help.stdout, new RegExp(`Examples?:\\n {2}hoard plugins ${sub}`));
    }
  });
});
