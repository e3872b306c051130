import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HoardError } from '../../src/errors.js';
import { buildGraph, discoverGraph } from '../../src/resources/graph.js';
import type { Protectable } from '../../src/resources/protectable.js';

const input = (spec: Record<string, string[]>) =>
  Object.entries(spec).map(([id, children]) => ({
    resource: { type: 't', id },
    children: children.map((c) => `t#${c}`),
  }));

describe('resource graph', () => {
  it('finds the roots and orders parents before children', () => {
    const g = buildGraph(input({ C: [], A: ['C'], B: ['C'] }), 'plan.yaml');
    assert.deepEqual(g.roots.map((n) => n.key).sort(), ['t#A', 't#B']);
    const order = g.nodes.map((n) => n.key);
    assert.ok(order.indexOf('t#A') < order.indexOf('t#C') && order.indexOf('t#B') < order.indexOf('t#C'));
    assert.deepEqual(g.get('t#C')!.parents.sort(), ['t#A', 't#B']);
  });

  it("rejects Karbor's cycle {A:[C], B:[C], C:[A]} with the cycle's path", () => {
    assert.throws(
      () => buildGraph(input({ A: ['C'], B: ['C'], C: ['A'] }), 'plan.yaml'),
      (e: unknown) =>
        e instanceof HoardError &&
        e.code === 'PLAN_INVALID' &&
        /plan\.yaml: the resources form a cycle: (t#A → t#C → t#A|t#C → t#A → t#C)/.test(e.message),
    );
  });

  it('rejects a dangling child, naming it', () => {
    assert.throws(
      () => buildGraph(input({ A: ['ghost'] }), 'plan.yaml'),
      /t#A names a child t#ghost that is not a resource/,
    );
  });

  it('adds dependents a protectable discovers, once even when two parents report them', async () => {
    const server: Protectable = {
      type: 'srv',
      getDependentResources: async (parent) => [
        { type: 'db', id: `${parent.id}/app` },
        { type: 'db', id: 'shared' },
      ],
    };
    const g = await discoverGraph(
      [
        { resource: { type: 'srv', id: 's1' }, children: [] },
        { resource: { type: 'srv', id: 's2' }, children: [] },
      ],
      new Map([['srv', server]]),
    );
    assert.deepEqual(g.nodes.map((n) => n.key).sort(), [
      'db#s1/app',
      'db#s2/app',
      'db#shared',
      'srv#s1',
      'srv#s2',
    ]);
    assert.deepEqual(g.get('db#shared')!.parents.sort(), ['srv#s1', 'srv#s2']);
  });

  it('round-trips through the form stored in a checkpoint', () => {
    const g = buildGraph(input({ A: ['B'], B: [] }), 'plan.yaml');
    const back = (globalThis as { structuredClone: <T>(v: T) => T }).structuredClone(g.toJSON());
    assert.deepEqual(buildGraph([], 'x').nodes, []);
    const again = (g.constructor as typeof import('../../src/resources/graph.js').ResourceGraph).fromJSON(
      back,
    );
    assert.deepEqual(
      again.nodes.map((n) => [n.key, n.children]),
      g.nodes.map((n) => [n.key, n.children]),
    );
  });

  it('keeps, in a subgraph, the order the whole graph implies between the resources kept', () => {
    // A → M → L, A → F, M → F; keeping A, L and F: A's nearest kept descendants are L and F
    // (through the M left out), and L, F keep no children.
    const g = buildGraph(input({ A: ['M', 'F'], M: ['L', 'F'], L: [], F: [] }), 'plan.yaml');
    const sub = g.subgraph(['t#L', 't#A', 't#F']);
    assert.deepEqual(Object.fromEntries(sub.nodes.map((n) => [n.key, [...n.children].sort()])), {
      't#A': ['t#F', 't#L'],
      't#L': [],
      't#F': [],
    });
    assert.equal(sub.nodes[0]!.key, 't#A', 'parents before children');
    assert.deepEqual(
      sub.roots.map((n) => n.key),
      ['t#A'],
    );
    // Kept resources with nothing kept between them stay unordered; one resource alone is a root.
    assert.deepEqual(
      g
        .subgraph(['t#L', 't#F'])
        .roots.map((n) => n.key)
        .sort(),
      ['t#F', 't#L'],
    );
    assert.deepEqual(
      g.subgraph(['t#M']).nodes.map((n) => [n.key, n.children]),
      [['t#M', []]],
    );
  });
});
