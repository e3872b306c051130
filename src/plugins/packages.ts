/**
 * `hoard plugins install | list | remove`: plugin packages in `HOME/plugins`, a folder with
 * its own package.json and node_modules that npm manages (`npm install --prefix HOME/plugins`).
 *
 * npm is run with `--legacy-peer-deps`, so the `hoard` peer dependency a plugin declares is
 * never fetched (the registry's `hoard` is another project's package), and `--install-links`,
 * so a folder is copied rather than linked (a linked folder would resolve its imports from
 * where it lies, outside the plugins directory); `node_modules/hoard` is then linked to the
 * running installation (resolve.ts).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { errorInfo, HoardError } from '../errors.js';
import { BUILTIN_PLUGINS } from './builtins.js';
import { loadPlugin } from './registry.js';
import { HOARD_PACKAGE, linkHoard, type PackageJson, pluginsDir } from './resolve.js';
import { SDK_VERSION } from './sdk.js';

/** An installed plugin package, as `hoard plugins list` shows it. */
export interface InstalledPlugin {
  /** The npm package name: what a provider file names in `plugin =`. */
  package: string;
  version: string | null;
  /** What it was installed from, as npm saved it (`^1.2.0`, `file:…`). */
  spec: string;
  description: string | null;
  /** The `hoard` peer dependency's range, if it declares one. */
  peerRange: string | null;
  /** The plugin's `name` (its settings section), types and SDK version, when it loads. */
  plugin: string | null;
  types: string[];
  sdkVersion: string | null;
  /** Why it does not load without settings, if it does not. */
  problem: { code: string; message: string } | null;
}

interface Manifest {
  dependencies?: Record<string, string>;
  [key: string]: unknown;
}

/** How long one npm run may take; HOARD_NPM_TIMEOUT_MS overrides. */
const NPM_TIMEOUT_MS = 10 * 60_000;

async function readManifest(dir: string): Promise<Manifest> {
  try {
    return JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as Manifest;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new HoardError(
      'PLUGIN_INVALID',
      `${join(dir, 'package.json')} cannot be read (${(error as Error).message}): fix or delete it, then install the plugins again`,
      { details: { file: join(dir, 'package.json') }, cause: error },
    );
  }
}

/** The plugins directory with a package.json of its own (npm then never looks above it). */
async function prepare(home: string): Promise<string> {
  const dir = pluginsDir(home);
  await mkdir(dir, { recursive: true });
  if (!existsSync(join(dir, 'package.json'))) {
    const manifest = {
      name: 'hoard-plugins',
      private: true,
      description: 'Plugin packages of this Hoard home: managed by hoard plugins install | remove',
      dependencies: {},
    };
    await writeFile(join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  }
  return dir;
}

/**
 * Runs npm in `dir`; PLUGIN_INSTALL_FAILED with the end of npm's stderr when it fails, or
 * when there is no npm (HOARD_NPM names another).
 */
function npm(dir: string, args: string[], what: string): Promise<void> {
  const command = process.env.HOARD_NPM || 'npm';
  const timeoutMs = Number(process.env.HOARD_NPM_TIMEOUT_MS) || NPM_TIMEOUT_MS;
  const full = [...args, '--prefix', dir, '--no-audit', '--no-fund', '--legacy-peer-deps', '--install-links'];
  return new Promise((done, fail) => {
    const child = spawn(command, full, {
      cwd: dir,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, npm_config_update_notifier: 'false' },
    });
    // Not spawn's `timeout` option: its timer outlives a spawn that failed, holding the process.
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-20_000);
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      fail(
        new HoardError(
          'PLUGIN_INSTALL_FAILED',
          error.code === 'ENOENT'
            ? `${what}: npm was not found ("${command}"): install npm, or set HOARD_NPM to its path`
            : `${what}: npm could not be started: ${error.message}`,
          { details: { command }, cause: error },
        ),
      );
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return done();
      const tail = stderr
        .split('\n')
        .map((l) => l.trimEnd())
        .filter((l) => l !== '' && !/^npm (error|ERR!) (A complete log|Log files)/.test(l))
        .slice(-12);
      const why = signal
        ? `was stopped by ${signal}${signal === 'SIGTERM' ? ` (after ${timeoutMs} ms?)` : ''}`
        : `exited ${code}`;
      fail(
        new HoardError(
          'PLUGIN_INSTALL_FAILED',
          `${what}: npm ${why}${tail.length ? `:\n${tail.map((l) => `  ${l}`).join('\n')}` : ''}`,
          { details: { command: [command, ...full].join(' '), exitCode: code, stderr: tail.join('\n') } },
        ),
      );
    });
  });
}

/**
 * A SPEC as npm should get it from the plugins directory: a path that exists (a folder or a
 * tarball, relative to `cwd`) becomes absolute; anything else (a registry name with an
 * optional version or tag, a URL) is npm's to read.
 */
function absoluteSpec(spec: string, cwd: string): { target: string; path: boolean } {
  if (/^[a-z][a-z0-9+.-]*:/i.test(spec) && !/^[a-z]:[\\/]/i.test(spec)) return { target: spec, path: false }; // file:, https:, git+…
  const path = resolve(cwd, spec);
  if (spec.startsWith('.') || isAbsolute(spec) || existsSync(path)) return { target: path, path: true };
  return { target: spec, path: false };
}

/**
 * Installs a plugin package (a registry name, a tarball, a folder) into `HOME/plugins` and
 * checks it exports a plugin built for this SDK; one that does not is removed again, and the
 * error says why (PLUGIN_INVALID, PLUGIN_SDK_MISMATCH).
 */
export async function installPlugin(
  home: string,
  spec: string,
  cwd = process.cwd(),
): Promise<InstalledPlugin> {
  if (spec.trim() === '' || spec.startsWith('-'))
    throw new HoardError('USAGE', `plugins install: "${spec}" is not a package, tarball or folder`);
  const { target, path } = absoluteSpec(spec, cwd);
  if (path && !existsSync(target)) {
    throw new HoardError(
      'PLUGIN_INSTALL_FAILED',
      `plugins install ${spec}: there is no file or folder ${target}`,
      {
        details: { spec },
      },
    );
  }
  const dir = await prepare(home);
  const before = (await readManifest(dir)).dependencies ?? {};
  // npm prunes what its package.json does not list; the link is made again below.
  await rm(join(dir, 'node_modules', HOARD_PACKAGE), { force: true, recursive: true });
  try {
    await npm(dir, ['install', '--save', target], `plugins install ${spec}`);
  } finally {
    await linkHoard(dir);
  }
  const after = (await readManifest(dir)).dependencies ?? {};
  const name = installedName(before, after, target, dir);
  if (name === undefined) {
    throw new HoardError(
      'PLUGIN_INSTALL_FAILED',
      `plugins install ${spec}: npm succeeded, but which package it installed cannot be told from ${join(dir, 'package.json')}`,
      { details: { spec } },
    );
  }
  const installed = await describe(home, name, after[name] ?? target);
  const refused =
    installed.problem && ['PLUGIN_INVALID', 'PLUGIN_SDK_MISMATCH'].includes(installed.problem.code);
  if (refused) {
    if (before[name] === undefined)
      await npm(dir, ['uninstall', '--save', name], `plugins install ${spec}: removing ${name} again`).catch(
        () => {},
      );
    throw new HoardError(
      installed.problem!.code as 'PLUGIN_INVALID' | 'PLUGIN_SDK_MISMATCH',
      `plugins install ${spec}: ${installed.problem!.message}${before[name] === undefined ? ' (so it was not kept)' : ''}`,
      { details: { spec, package: name } },
    );
  }
  return installed;
}

/** Which package an install added or changed, from the dependencies before and after. */
function installedName(
  before: Record<string, string>,
  after: Record<string, string>,
  target: string,
  dir: string,
): string | undefined {
  const changed = Object.keys(after).filter((n) => before[n] !== after[n]);
  if (changed.length === 1) return changed[0];
  // The same spec again: find it by what npm saved, or by the name in a registry spec.
  const saved = Object.entries(after).find(
    ([, v]) => v.startsWith('file:') && resolve(dir, v.slice(5)) === target,
  );
  if (saved) return saved[0];
  const name = /^(@[^/@]+\/)?[^/@]+/.exec(target)?.[0];
  return name !== undefined && after[name] !== undefined ? name : undefined;
}

/** Removes a plugin package; PLUGIN_NOT_INSTALLED naming the installed ones if it is not there. */
export async function removePlugin(home: string, name: string): Promise<InstalledPlugin> {
  const dir = pluginsDir(home);
  const dependencies = (await readManifest(dir)).dependencies ?? {};
  const spec = dependencies[name];
  if (spec === undefined) {
    const there = Object.keys(dependencies);
    throw new HoardError(
      'PLUGIN_NOT_INSTALLED',
      `plugins remove: no plugin package "${name}" is installed in ${dir}${there.length ? ` (installed: ${there.join(', ')})` : ' (none is)'}`,
      { details: { package: name, installed: there } },
    );
  }
  const removed = await packageInfo(dir, name, spec);
  await rm(join(dir, 'node_modules', HOARD_PACKAGE), { force: true, recursive: true });
  try {
    await npm(dir, ['uninstall', '--save', name], `plugins remove ${name}`);
  } finally {
    await linkHoard(dir);
  }
  return removed;
}

/** Every installed plugin package, each loaded (without settings) to show its name and types. */
export async function listPlugins(home: string): Promise<InstalledPlugin[]> {
  const dependencies = (await readManifest(pluginsDir(home))).dependencies ?? {};
  const out: InstalledPlugin[] = [];
  for (const [name, spec] of Object.entries(dependencies).sort(([a], [b]) => a.localeCompare(b)))
    out.push(await describe(home, name, spec));
  return out;
}

async function packageInfo(dir: string, name: string, spec: string): Promise<InstalledPlugin> {
  let pkg: PackageJson = {};
  try {
    pkg = JSON.parse(await readFile(join(dir, 'node_modules', name, 'package.json'), 'utf8')) as PackageJson;
  } catch {
    // not installed (an npm run cut short): shown without version
  }
  return {
    package: name,
    version: pkg.version ?? null,
    spec,
    description: pkg.description ?? null,
    peerRange: pkg.peerDependencies?.[HOARD_PACKAGE] ?? null,
    plugin: null,
    types: [],
    sdkVersion: null,
    problem: null,
  };
}

/** A package with what loading it (as a provider would, without settings) tells. */
async function describe(home: string, name: string, spec: string): Promise<InstalledPlugin> {
  const info = await packageInfo(pluginsDir(home), name, spec);
  try {
    const plugin = await loadPlugin(name, {}, new Map(), pluginsDir(home), { home });
    info.plugin = plugin.name;
    info.types = plugin.types.map((t) => t.type);
    info.sdkVersion = plugin.sdkVersion ?? null;
  } catch (error) {
    const e = errorInfo(error);
    info.problem = { code: e.code ?? 'INTERNAL', message: e.message };
  }
  return info;
}

/** For messages: the SDK this Hoard has and where plugins go. */
export function pluginsSummary(home: string): { directory: string; sdkVersion: string; builtins: string[] } {
  return { directory: pluginsDir(home), sdkVersion: SDK_VERSION, builtins: [...BUILTIN_PLUGINS.keys()] };
}
