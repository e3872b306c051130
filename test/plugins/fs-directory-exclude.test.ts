import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { before, describe, it } from 'node:test';
import { excluder } from '../../src/plugins/fs-directory/exclude.js';
import { walk } from '../../src/plugins/fs-directory/worker.js';

const FILES = [
  'a.tmp',
  'keep.tmp',
  'top.c',
  'build/out.o',
  'build/sub/x.o',
  'src/a.tmp',
  'src/main.c',
  'src/util.c',
  'src/build/y.c',
  'src/logs',
  'src/node_modules/n.js',
  'logs/l.txt',
  'docs/logs/d.txt',
  'docs/keep.tmp',
  'node_modules/m/index.js',
  '.hidden/h.txt',
  'deep/a/b/c/z.log',
  'deep/z.log',
  'cache/c1',
  'cache/sub/c2',
];

let root: string;

/** Files and links the walk keeps with these patterns. */
function walked(exclude: string[]): string[] {
  const { entries, problem } = walk({ root, dirs: [''], depth: Number.POSITIVE_INFINITY, exclude });
  assert.equal(problem, undefined);
  return entries
    .filter((e) => e.type !== 'dir')
    .map((e) => e.path)
    .sort();
}

/** Files and links git leaves untracked-and-not-ignored with the same lines as a .gitignore at the root. */
function gitKeeps(exclude: string[], dir: string): string[] {
  const patterns = join(dir, 'patterns');
  execFileSync('sh', ['-c', `printf '%s\\n' "$@" > ${patterns}`, 'sh', ...exclude]);
  const out = execFileSync(
    'git',
    [
      `--git-dir=${join(dir, 'repo.git')}`,
      `--work-tree=${root}`,
      'ls-files',
      '-z',
      '-o',
      `--exclude-from=${patterns}`,
    ],
    {
      cwd: root,
      env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', HOME: dir },
    },
  ).toString();
  return out.split('\0').filter(Boolean).sort();
}

const hasGit = (() => {
  try {
    execFileSync('git', ['--version']);
    return true;
  } catch {
    return false;
  }
})();

describe('fs.directory exclude patterns', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hoard-fsdir-exclude-'));
    root = join(dir, 'data');
    for (const f of FILES) {
      await mkdir(dirname(join(root, f)), { recursive: true });
      await writeFile(join(root, f), f);
    }
    await mkdir(join(root, 'empty'));
    // A link to a directory is not a directory: `lib/` does not match it (as in git).
    await symlink('build', join(root, 'src/lib'));
    if (hasGit) execFileSync('git', ['init', '-q', '--bare', join(dir, 'repo.git')]);
  });

  const cases: [string, string[]][] = [
    ['no slash: a name at any depth', ['*.tmp']],
    ['no slash, no wildcard: a name at any depth', ['a.tmp', 'node_modules']],
    ['leading slash: anchored at the root', ['/build', '/a.tmp']],
    ['a slash in the middle: anchored at the root', ['build/*.o', 'src/build']],
    ['trailing slash: directories only (not a file, not a link to a directory)', ['logs/', 'lib/']],
    ['** at the start: any depth', ['**/sub', '**/node_modules']],
    ['** in the middle: zero or more directories', ['deep/**/*.log']],
    ['** at the end: everything inside', ['cache/**']],
    ['a dot directory', ['.hidden']],
    ['a negated class', ['[!m]*.c']],
    ['! re-includes what an earlier pattern excluded', ['*.tmp', '!keep.tmp']],
    ['! cannot re-include below an excluded directory', ['docs/', '!docs/keep.tmp']],
    ['everything but one directory and one file in it', ['/*', '!/src', '/src/*', '!/src/main.c']],
    ['only .c files, at any depth', ['*', '!*/', '!*.c']],
    ['the last matching pattern decides', ['!keep.tmp', '*.tmp']],
  ];
  for (const [name, exclude] of cases) {
    it(`${name}: ${JSON.stringify(exclude)} leaves out what git leaves out`, {
      skip: !hasGit && 'git is not installed',
    }, () => {
      const kept = walked(exclude);
      assert.deepEqual(kept, gitKeeps(exclude, dir));
      assert.ok(kept.length < FILES.length + 1, 'the case excludes something');
    });
  }

  it('patterns written for the picomatch globs of earlier versions exclude at least what they did', () => {
    const all = walked([]);
    const without = (exclude: string[]) => all.filter((p) => !walked(exclude).includes(p));
    // Braces and extglobs are kept (git has neither).
    assert.deepEqual(without(['**/*.{tmp,log}']), [
      'a.tmp',
      'deep/a/b/c/z.log',
      'deep/z.log',
      'docs/keep.tmp',
      'keep.tmp',
      'src/a.tmp',
    ]);
    assert.deepEqual(without(['*.@(o|c)']), [
      'build/out.o',
      'build/sub/x.o',
      'src/build/y.c',
      'src/main.c',
      'src/util.c',
      'top.c',
    ]);
    // `./x` was the root's x.
    assert.deepEqual(without(['./build']), ['build/out.o', 'build/sub/x.o']);
    // `*.tmp` was the root's only; now it is every level's.
    assert.deepEqual(without(['*.tmp']), ['a.tmp', 'docs/keep.tmp', 'keep.tmp', 'src/a.tmp']);
  });

  it('a pattern is one item: # is no comment, trailing spaces are kept, \\! is a literal !', () => {
    const excluded = excluder(['#x', 'y ', '\\!z', '\\#w']);
    assert.equal(excluded('!z', false), true);
    assert.equal(excluded('#w', false), true);
    assert.equal(excluded('z', false), false);
    assert.equal(excluded('#x', false), true);
    assert.equal(excluded('a/#x', false), true);
    assert.equal(excluded('y ', false), true);
    assert.equal(excluded('y', false), false);
  });
});
