/**
 * `hoard graph --operation restore|verify|delete` draws the hook graph of a plan whose
 * resources take restore parameters (a target) that are only given when the restore runs.
 */
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { hoard } from './helpers.js';

it('draws restore, verify and delete graphs of a plan whose restore needs a target', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hoard-graph-'));
  const plan = join(dir, 'plan.yaml');
  await writeFile(
    plan,
    [
      'name: files',
      'resources:',
      `  - {type: fs.directory, id: docs, path: ${JSON.stringify(dir)}, children: [db]}`,
      `  - {type: sqlite.database, id: db, path: ${JSON.stringify(join(dir, 'x.db'))}}`,
      '',
    ].join('\n'),
  );
  for (const operation of ['restore', 'verify', 'delete']) {
    const r = await hoard(['--home', join(dir, 'home'), '--json', 'graph', plan, '--operation', operation]);
    assert.equal(r.code, 0, `${operation}: ${r.stderr}`);
    const graph = JSON.parse(r.stdout);
    assert.equal(graph.tasks.length, 8, operation);
    assert.ok(
      graph.edges.some(
        (e: { from: string; to: string; kind: string }) =>
          e.from === 'fs.directory#docs:prepareBegin' &&
          e.to === 'sqlite.database#db:prepareBegin' &&
          e.kind === 'green',
      ),
      operation,
    );
  }
  // A protect is still checked: its parameters are the plan's.
  await writeFile(
    join(dir, 'bad.yaml'),
    `name: bad\nresources: [{type: fs.directory, id: d, path: ${JSON.stringify(dir)}}]\nparameters: {fs.directory: {exclude: 3}}\n`,
  );
  const bad = await hoard(['--home', join(dir, 'home'), 'graph', join(dir, 'bad.yaml')]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /exclude/);
});
