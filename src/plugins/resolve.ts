/**
 * Where a plugin package named in a provider file (`plugin = NAME`) is found: first in the
 * home's plugins directory (`HOME/plugins/node_modules`, where `hoard plugins install` puts
 * packages), then in Hoard's own installation.
 *
 * A plugin imports the SDK as `hoard`, which it declares as a peer dependency. That name on
 * the npm registry is someone else's package, so npm is never left to install it: the plugins
 * directory's `node_modules/hoard` is a link to the running installation, so a plugin gets
 * the very SDK (and `HoardError` class) that loads it.
 */
import { readFileSync } from 'node:fs';
import { lstat, mkdir, readFile, readlink, rename, rm, stat, symlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HoardError } from '../errors.js';

/** The name Hoard's own package has, and that plugins import the SDK by. */
export const HOARD_PACKAGE = 'hoard';

/** `HOME/plugins`: a package.json and node_modules of its own, managed with npm. */
export function pluginsDir(home: string): string {
  return join(home, 'plugins');
}

let root: string | undefined;

/** The folder of the running Hoard installation (the one whose package.json is named `hoard`). */
export function hoardRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown };
      if (pkg.name === HOARD_PACKAGE) {
        root = dir;
        return dir;
      }
    } catch {
      // no package.json here, or not one of ours: look further up
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json named "${HOARD_PACKAGE}" above ${import.meta.url}`);
    dir = up;
  }
}

/**
 * Makes `DIR/node_modules/hoard` a link to the running installation, replacing whatever is
 * there (a link to another installation, or the unrelated `hoard` package from the registry).
 * Atomic (a new link renamed over the old), so processes sharing a home never see it missing.
 */
export async function linkHoard(dir: string): Promise<void> {
  const link = join(dir, 'node_modules', HOARD_PACKAGE);
  const target = hoardRoot();
  try {
    if (resolve(dirname(link), await readlink(link)) === target) return;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EINVAL')
      await rm(link, { recursive: true, force: true }); // a real folder
    else if (code !== 'ENOENT') throw error;
  }
  await mkdir(dirname(link), { recursive: true });
  const temporary = `${link}.${process.pid}.${Date.now()}.tmp`;
  await symlink(target, temporary, 'dir');
  try {
    await rename(temporary, link);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

/** `@scope/name/sub/path` → `['@scope/name', './sub/path']`; `name` → `['name', '.']`. */
export function splitSpecifier(specifier: string): [string, string] {
  const parts = specifier.split('/');
  const length = specifier.startsWith('@') ? 2 : 1;
  const rest = parts.slice(length).join('/');
  return [parts.slice(0, length).join('/'), rest ? `./${rest}` : '.'];
}

/** Whether `name` could be an npm package name (with an optional subpath), not a path. */
export function isPackageSpecifier(name: string): boolean {
  return /^(@[a-z0-9][\w.-]*\/)?[a-z0-9][\w.-]*(\/[\w./-]+)?$/i.test(name);
}

/**
 * The file `specifier` (a package name, maybe with a subpath) names in `HOME/plugins`, or
 * undefined when that package is not installed there. Links `hoard` first, so the plugin's
 * own `import 'hoard'` finds this installation.
 */
export async function resolveInstalled(home: string, specifier: string): Promise<string | undefined> {
  const [name, subpath] = splitSpecifier(specifier);
  const dir = join(pluginsDir(home), 'node_modules', name);
  let pkg: PackageJson;
  try {
    pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as PackageJson;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new HoardError(
      'PLUGIN_INVALID',
      `plugin package "${name}" in ${pluginsDir(home)}: its package.json cannot be read (${(error as Error).message})`,
      { details: { plugin: specifier, package: name }, cause: error },
    );
  }
  await linkHoard(pluginsDir(home));
  return packageEntry(dir, pkg, subpath, name);
}

export interface PackageJson {
  name?: string;
  version?: string;
  description?: string;
  main?: string;
  exports?: unknown;
  peerDependencies?: Record<string, string>;
}

const CONDITIONS = ['import', 'node', 'default'];

/**
 * The file a package's `exports` (conditions `import`, `node`, `default`) or `main` gives for
 * `subpath`, as Node's `import` would find it; PLUGIN_INVALID when it gives none.
 */
async function packageEntry(dir: string, pkg: PackageJson, subpath: string, name: string): Promise<string> {
  let target: string | undefined;
  if (pkg.exports !== undefined && pkg.exports !== null) {
    const exports = pkg.exports;
    const keyed =
      typeof exports === 'object' &&
      !Array.isArray(exports) &&
      Object.keys(exports).some((k) => k.startsWith('.'));
    const entry = keyed
      ? (exports as Record<string, unknown>)[subpath]
      : subpath === '.'
        ? exports
        : undefined;
    target = conditional(entry);
  } else if (subpath === '.') {
    target = await existing(dir, pkg.main ?? 'index.js');
  } else {
    target = await existing(dir, subpath);
  }
  if (target === undefined) {
    throw new HoardError(
      'PLUGIN_INVALID',
      `plugin package "${name}" (${dir}) exports nothing at "${subpath}" for import: give its package.json an "exports" or "main" entry`,
      { details: { package: name, subpath } },
    );
  }
  return resolve(dir, target);
}

function conditional(target: unknown): string | undefined {
  if (typeof target === 'string') return target;
  if (Array.isArray(target)) {
    for (const t of target) {
      const found = conditional(t);
      if (found) return found;
    }
    return undefined;
  }
  if (typeof target === 'object' && target !== null) {
    for (const [condition, value] of Object.entries(target))
      if (CONDITIONS.includes(condition)) {
        const found = conditional(value);
        if (found) return found;
      }
  }
  return undefined;
}

/** `main` as CommonJS reads it: the file, or with `.js`, or its folder's `index.js`. */
async function existing(dir: string, main: string): Promise<string | undefined> {
  for (const candidate of [main, `${main}.js`, join(main, 'index.js')]) {
    try {
      if ((await stat(join(dir, candidate))).isFile()) return candidate;
    } catch {
      // try the next
    }
  }
  return undefined;
}

/** Whether `path` exists (a link counts, even a dangling one). */
export async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}
