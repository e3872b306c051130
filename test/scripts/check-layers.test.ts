import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repository = fileURLToPath(new URL('../../../', import.meta.url));
const script = join(repository, 'scripts', 'check-layers.mjs');
const made: string[] = [];
after(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** Runs the check on a src/ made of `files` (path under src/ → text). */
function check(files: Record<string, string>) {
  const root = mkdtempSync(join(tmpdir(), 'hoard-layers-'));
  made.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, 'src', path)), { recursive: true });
    writeFileSync(join(root, 'src', path), text);
  }
  const run = spawnSync(process.execPath, [script, root], { encoding: 'utf8' });
  return { status: run.status, stderr: run.stderr };
}

describe('scripts/check-layers.mjs', () => {
  it("passes on Hoard's own src/", () => {
    const run = spawnSync(process.execPath, [script, repository], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
  });

  it('fails on an import pointing up, naming the file, line and arrow', () => {
    const { status, stderr } = check({
      'flows/protect.ts': 'export const protect = 1;\n',
      'engine/run.ts':
        "// the engine knows nothing of backups\nimport { protect } from '../flows/protect.js';\nexport const run = protect;\n",
    });
    assert.equal(status, 1);
    assert.match(
      stderr,
      /src\/engine\/run\.ts:2: engine → flows \(src\/flows\/protect\.ts\): engine may import only errors/,
    );
  });

  it('counts a type-only import and a re-export as arrows too', () => {
    const { status, stderr } = check({
      'service/server.ts': 'export interface Server {}\n',
      'bank/types.ts': "import type { Server } from '../service/server.js';\nexport type S = Server;\n",
      'store/index.ts': "export { type Server } from '../service/server.js';\n",
    });
    assert.equal(status, 1);
    assert.match(stderr, /bank → service .*\[type\]/);
    assert.match(stderr, /store → service/);
  });

  it('allows an arrow pointing down and imports within a layer', () => {
    const { status, stderr } = check({
      'errors.ts': 'export class HoardError extends Error {}\n',
      'engine/run.ts':
        "import { HoardError } from '../errors.js';\nimport { x } from './graph.js';\nexport const run = [HoardError, x];\n",
      'engine/graph.ts': 'export const x = 1;\n',
    });
    assert.equal(status, 0, stderr);
  });

  it('fails on a run-time cycle inside a layer, but not on a cycle of type-only imports', () => {
    const runtime = check({
      'service/a.ts': "import { b } from './b.js';\nexport const a = () => b;\n",
      'service/b.ts': "import { a } from './a.js';\nexport const b = () => a;\n",
    });
    assert.equal(runtime.status, 1);
    assert.match(
      runtime.stderr,
      /run-time import cycle: src\/service\/(a|b)\.ts → src\/service\/(b|a)\.ts → /,
    );
    const types = check({
      'service/a.ts': "import type { B } from './b.js';\nexport interface A { b?: B }\n",
      'service/b.ts': "import { type A } from './a.js';\nexport interface B { a?: A }\n",
    });
    assert.equal(types.status, 0, types.stderr);
  });

  it('fails on a folder the table does not know', () => {
    const { status, stderr } = check({ 'misc/thing.ts': 'export const thing = 1;\n' });
    assert.equal(status, 1);
    assert.match(stderr, /layer "misc" is not in the table/);
  });

  it("allows exactly the arrows of the README's table", async () => {
    const { ALLOWED } = (await import(pathToFileURL(script).href)) as { ALLOWED: Record<string, string[]> };
    const readme = readFileSync(join(repository, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Architecture'), readme.indexOf('## The CLI'));
    const names = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!.replace(/\.ts$/, ''));
    const table: Record<string, string[]> = {};
    for (const line of section.split('\n')) {
      const cells = line.split('|').map((c) => c.trim());
      if (cells.length < 4 || !cells[1]!.startsWith('`')) continue;
      const allowed = names(cells[2]!)
        .filter((n) => n in ALLOWED)
        .sort();
      for (const layer of names(cells[1]!)) table[layer] = allowed;
    }
    const script_ = Object.fromEntries(Object.entries(ALLOWED).map(([k, v]) => [k, [...v].sort()]));
    assert.deepEqual(table, script_);
  });
});
