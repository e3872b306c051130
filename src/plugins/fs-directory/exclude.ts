/**
 * `exclude` patterns with `.gitignore`'s rules (SPEC §13, docs/fs-directory-format.md):
 * a pattern without a `/` matches a name at any depth, a `/` at the start or in the middle
 * anchors it at the root, a `/` at the end matches directories only, `**` spans directories,
 * `!` re-includes what an earlier pattern excluded, and the last pattern that matches decides.
 *
 * Written here over picomatch rather than with the `ignore` package, so that a pattern
 * written for the picomatch globs this option always took (braces, extglobs, `a/**`) keeps
 * excluding at least what it excluded: `ignore` would read `*.{log,tmp}` as a literal name
 * and stop excluding those files without a word. Unlike a `.gitignore` file, each item is one
 * pattern: a leading `#` is not a comment and trailing spaces are kept.
 */
import { createRequire } from 'node:module';
import type picomatchType from 'picomatch';

/** Whether the entry at `path` (relative to the root, `/`-separated) is left out. */
export type Excluder = (path: string, isDir: boolean) => boolean;

interface Rule {
  negate: boolean;
  dirOnly: boolean;
  matches: (path: string) => boolean;
}

/** Compiles the patterns once; an empty list excludes nothing. */
export function excluder(patterns: readonly string[]): Excluder {
  const rules = patterns.map(rule).filter((r): r is Rule => r !== undefined);
  if (rules.length === 0) return () => false;
  return (path, isDir) => {
    for (let i = rules.length - 1; i >= 0; i--) {
      const r = rules[i]!;
      if ((!r.dirOnly || isDir) && r.matches(path)) return !r.negate;
    }
    return false;
  };
}

/** One pattern as a rule; undefined for a pattern that names nothing (`/`, `!`). */
function rule(pattern: string): Rule | undefined {
  let glob = pattern;
  const negate = glob.startsWith('!');
  if (negate) glob = glob.slice(1);
  const dirOnly = glob.endsWith('/');
  glob = glob.replace(/\/+$/, '');
  // `./x` named the root's x in picomatch: keep it anchored.
  glob = glob.replace(/^(\.\/)+/, '/');
  if (glob === '' || glob === '/') return undefined;
  if (glob.includes('/')) glob = glob.replace(/^\/+/, '');
  else glob = `**/${glob}`;
  // `dir/**` is what is inside dir, not dir itself (picomatch's `**` also matches nothing).
  if (glob.endsWith('/**')) glob = `${glob}/*`;
  // posix: `[!a]` is a negated class, as in git; nonegate: the `!` was taken above.
  // Required here, not imported: a tree walked without patterns (most) never loads it.
  const picomatch = createRequire(import.meta.url)('picomatch') as typeof picomatchType;
  const matches = picomatch(glob, { dot: true, posix: true, nonegate: true });
  return { negate, dirOnly, matches };
}
