import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runGraph } from '../../src/engine/index.js';
import { buildHookGraph, toTaskGraph } from '../../src/flows/hook-graph.js';
import { PluginHarness } from '../../src/flows/testkit.js';
import type { HookContext, HookName, ProtectionPlugin } from '../../src/plugins/sdk.js';
import { OPERATION_KINDS } from '../../src/plugins/sdk.js';
import { buildGraph } from '../../src/resources/graph.js';

const HOOKS: HookName[] = ['prepareBegin', 'prepareFinish', 'main', 'complete'];

/** A resource graph of `t#X` resources from `{X: [children]}`. */
function resources(spec: Record<string, string[]>) {
  return buildGraph(
    Object.entries(spec).map(([id, children]) => ({
      resource: { type: 't', id },
      children: children.map((c) => `t#${c}`),
    })),
    'test',
  );
}

/** Runs the hook graph with every hook implemented, recording `X:hook` in start order. */
async function record(spec: Record<string, string[]>, failing?: string) {
  const log: string[] = [];
  const graph = resources(spec);
  const hooks = buildHookGraph(graph, () => ({
    onPrepareBegin: () => {},
    onPrepareFinish: () => {},
    onMain: () => {},
    onComplete: () => {},
  }));
  const g = toTaskGraph(hooks, (task) => async () => {
    const name = `${task.resource.slice(2)}:${task.hook}`;
    log.push(name);
    await new Promise((r) => setImmediate(r));
    if (name === failing) throw new Error(`${name} failed`);
  });
  const result = await runGraph(g);
  return { log, result };
}

const before = (log: string[], a: string, b: string) => {
  assert.ok(log.includes(a), `${a} did not run`);
  assert.ok(log.includes(b), `${b} did not run`);
  assert.ok(log.indexOf(a) < log.indexOf(b), `${a} should run before ${b}: ${log.join(' ')}`);
};

describe('hook graph (Karbor acceptance)', () => {
  it('chain A→B→C: PB A<B<C, PF C<B<A, C C<B<A, PB<PF<M<C per resource, each hook once, for every operation kind', async () => {
    const log: string[] = [];
    const recorder: ProtectionPlugin = {
      name: 'recorder',
      types: [{ type: 't' }],
      operation: (kind, resource) => {
        const hook = (name: HookName) => async (ctx: HookContext) => {
          assert.equal(ctx.operation, kind);
          log.push(`${kind} ${resource.id}:${name}`);
          await new Promise((r) => setImmediate(r));
        };
        return {
          onPrepareBegin: hook('prepareBegin'),
          onPrepareFinish: hook('prepareFinish'),
          onMain: hook('main'),
          onComplete: hook('complete'),
        };
      },
    };
    const harness = new PluginHarness({
      plugins: [recorder],
      resources: Object.entries({ A: ['B'], B: ['C'], C: [] }).map(([id, children]) => ({
        resource: { type: 't', id },
        children: children.map((c) => `t#${c}`),
      })),
    });
    for (const kind of OPERATION_KINDS) {
      log.length = 0;
      const result = await harness.run(kind);
      assert.equal(result.status, 'succeeded');
      assert.ok(log.every((l) => l.startsWith(`${kind} `)));
      const names = log.map((l) => l.slice(kind.length + 1));
      assert.equal(names.length, 12, `${kind}: every hook once per resource`);
      assert.equal(new Set(names).size, 12);
      before(names, 'A:prepareBegin', 'B:prepareBegin');
      before(names, 'B:prepareBegin', 'C:prepareBegin');
      before(names, 'C:prepareFinish', 'B:prepareFinish');
      before(names, 'B:prepareFinish', 'A:prepareFinish');
      before(names, 'C:complete', 'B:complete');
      before(names, 'B:complete', 'A:complete');
      for (const r of ['A', 'B', 'C']) {
        before(names, `${r}:prepareBegin`, `${r}:prepareFinish`);
        before(names, `${r}:prepareFinish`, `${r}:main`);
        before(names, `${r}:main`, `${r}:complete`);
      }
    }
  });

  it("shared child C of P and Q (C→D): C's PB waits for both parents' PB; both parents' PF and C wait for C's", async () => {
    const graph = resources({ P: ['C'], Q: ['C'], C: ['D'], D: [] });
    assert.equal(graph.nodes.length, 4, 'a shared child is one node');
    const { log } = await record({ P: ['C'], Q: ['C'], C: ['D'], D: [] });
    assert.equal(log.filter((l) => l.startsWith('C:')).length, 4, "C's hooks run once each");
    for (const parent of ['P', 'Q']) {
      before(log, `${parent}:prepareBegin`, 'C:prepareBegin');
      before(log, 'C:prepareFinish', `${parent}:prepareFinish`);
      before(log, 'C:complete', `${parent}:complete`);
    }
    before(log, 'C:prepareBegin', 'D:prepareBegin');
    before(log, 'D:prepareFinish', 'C:prepareFinish');
  });

  it('has exactly the six kinds of edges of SPEC §2', () => {
    const hooks = buildHookGraph(resources({ P: ['K'], K: [] }), () => undefined);
    const edges = hooks.edges.map((e) => `${e.kind}:${e.from}>${e.to}`).sort();
    assert.deepEqual(edges, [
      'black:t#K:complete>t#P:complete',
      'green:t#P:prepareBegin>t#K:prepareBegin',
      'indigo:t#K:prepareBegin>t#K:prepareFinish',
      'indigo:t#P:prepareBegin>t#P:prepareFinish',
      'purple:t#K:prepareFinish>t#P:prepareFinish',
      'red:t#K:main>t#K:complete',
      'red:t#P:main>t#P:complete',
      'yellow:t#K:prepareFinish>t#K:main',
      'yellow:t#P:prepareFinish>t#P:main',
    ]);
    assert.equal(hooks.tasks.length, 8);
  });

  it('a failed child snapshot: the parent still thaws (PF) but its main and complete do not run', async () => {
    const { log, result } = await record({ P: ['K'], K: [] }, 'K:main');
    assert.ok(log.includes('P:prepareFinish'));
    assert.ok(!log.includes('P:complete'));
    assert.equal(result.task('t#P:complete')!.state, 'upstream_failed');
    assert.equal(result.task('t#P:complete')!.cause, 't#K:main');
    // main hooks of parent and child may overlap: the parent's main is not downstream of the child's.
    assert.equal(result.task('t#P:main')!.state, 'succeeded');
  });

  it("a failed child prepareBegin: the parent's prepareFinish still runs; the parent's main does not", async () => {
    const { log, result } = await record({ P: ['K'], K: [] }, 'K:prepareBegin');
    assert.ok(log.includes('P:prepareFinish'));
    assert.equal(result.task('t#K:prepareFinish')!.state, 'upstream_failed');
    assert.equal(result.task('t#P:main')!.state, 'upstream_failed');
    assert.equal(result.task('t#P:main')!.cause, 't#K:prepareBegin');
  });

  it('unimplemented hooks cost nothing but keep the order they imply', async () => {
    const graph = resources({ P: ['K'], K: [] });
    const log: string[] = [];
    // Only P's and K's main are implemented: K's complete is a no-op but still sits before P's complete.
    const hooks = buildHookGraph(graph, (key) =>
      key === 't#P' ? { onComplete: () => {} } : { onMain: () => {} },
    );
    const g = toTaskGraph(hooks, (task) => async () => void log.push(`${task.resource}:${task.hook}`));
    const result = await runGraph(g);
    assert.deepEqual(log, ['t#K:main', 't#P:complete']);
    assert.equal(result.counts.succeeded, 8);
    assert.deepEqual(
      HOOKS.map((h) => g.task(`t#K:${h}`)!.run === undefined),
      [true, true, false, true],
    );
  });
});
