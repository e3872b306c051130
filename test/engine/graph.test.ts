import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runGraph, TaskGraph } from '../../src/engine/index.js';
import { HoardError } from '../../src/errors.js';

describe('task graph', () => {
  it('reports a cycle with its path before any task runs', async () => {
    let ran = 0;
    const g = new TaskGraph();
    for (const id of ['a', 'b', 'c', 'd']) g.add({ id, run: () => void ran++ });
    g.edge('d', 'a').edge('a', 'b').edge('b', 'c').edge('c', 'a');
    await assert.rejects(runGraph(g), (error: unknown) => {
      assert.ok(error instanceof HoardError);
      assert.equal(error.code, 'GRAPH_CYCLE');
      const cycle = error.details?.cycle as string[];
      assert.equal(cycle[0], cycle.at(-1));
      assert.deepEqual(new Set(cycle), new Set(['a', 'b', 'c']));
      assert.match(error.message, /a → b → c → a|b → c → a → b|c → a → b → c/);
      return true;
    });
    assert.equal(ran, 0);
  });

  it('reports a self-loop as a cycle', () => {
    const g = new TaskGraph().add({ id: 'x' }).edge('x', 'x');
    assert.throws(() => g.compile(), /cycle: x → x/);
  });

  it('rejects an edge to an unknown task, naming it', () => {
    const g = new TaskGraph().add({ id: 'a' }).edge('a', 'ghost');
    assert.throws(
      () => g.compile(),
      (e: unknown) => e instanceof HoardError && /unknown task "ghost"/.test(e.message),
    );
  });

  it('rejects duplicate ids, bad options and a teardown of nothing', () => {
    assert.throws(() => new TaskGraph().add({ id: 'a' }).add({ id: 'a' }), /added twice/);
    assert.throws(() => new TaskGraph().add({ id: 'a', timeout: 0 }).compile(), /timeout must be/);
    assert.throws(() => new TaskGraph().add({ id: 't', teardownOf: 'nope' }).compile(), /teardown of "nope"/);
    assert.throws(
      () =>
        new TaskGraph()
          .add({ id: 'a', semaphores: [{ group: 'g', limit: 2 }] })
          .add({ id: 'b', semaphores: [{ group: 'g', limit: 3 }] })
          .compile(),
      /task "b" gives "g" a limit of 3, another task gave it 2/,
    );
  });

  it('ranks tasks by their longest remaining estimated path', () => {
    const g = new TaskGraph()
      .add({ id: 'a', estimate: 1 })
      .add({ id: 'b', estimate: 10 })
      .add({ id: 'c', estimate: 2 })
      .add({ id: 'd', estimate: 3 })
      .edge('a', 'b')
      .edge('a', 'c')
      .edge('b', 'd')
      .edge('c', 'd');
    const { rank, index } = g.compile();
    assert.equal(rank[index.get('d')!], 3);
    assert.equal(rank[index.get('b')!], 13);
    assert.equal(rank[index.get('c')!], 5);
    assert.equal(rank[index.get('a')!], 14);
  });
});
