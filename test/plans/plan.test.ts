import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HoardError } from '../../src/errors.js';
import { parsePlan } from '../../src/plans/plan.js';
import { deepMerge, parametersFor } from '../../src/plugins/params.js';

describe('plan files', () => {
  it('reads YAML, resolving children given by id or type#id', () => {
    const plan = parsePlan(
      `name: shop-nightly
resources:
  - {type: exec.task, id: app, children: [db, "fs.directory#uploads"]}
  - {type: sqlite.database, id: db, path: /srv/shop/shop.db}
  - {type: fs.directory, id: uploads, path: /srv/shop/uploads}
parameters:
  fs.directory: {exclude: ["*.tmp"]}
`,
      'shop.yaml',
    );
    assert.equal(plan.provider, 'local');
    assert.deepEqual(plan.resources[0]!.children, ['sqlite.database#db', 'fs.directory#uploads']);
    assert.deepEqual(plan.resources[1]!.resource.extra, { path: '/srv/shop/shop.db' });
  });

  const bad = (text: string, pattern: RegExp) =>
    assert.throws(
      () => parsePlan(text, 'bad.yaml'),
      (e: unknown) => e instanceof HoardError && e.code === 'PLAN_INVALID' && pattern.test(e.message),
    );

  it('reports malformed YAML with file, line and column', () => {
    bad('name: x\nresources: [\n  {type: a, id: b\n', /^bad\.yaml:\d+:\d+: not valid YAML or JSON/);
  });

  it('rejects unknown top-level keys, missing fields and wrong types, naming them', () => {
    bad('name: x\nresources: [{type: a, id: b}]\nschedule: daily\n', /schedule is not a known field/);
    bad('name: x\nresources: [{type: a}]\n', /resources\.0\.id is required/);
    bad('name: x\nresources: [{type: a, id: 3}]\n', /resources\.0\.id must be a string/);
    bad('name: "bad name"\nresources: [{type: a, id: b}]\n', /name must match/);
  });

  it("reads a resource's host apart from its type's fields, and rejects one that is not a host name", () => {
    const plan = parsePlan(
      'name: x\nresources: [{type: fs.directory, id: u, host: db-1.example, path: /u}]\n',
      'x.yaml',
    );
    assert.equal(plan.resources[0]!.resource.host, 'db-1.example');
    assert.deepEqual(plan.resources[0]!.resource.extra, { path: '/u' });
    bad('name: x\nresources: [{type: a, id: b, host: "a:b"}]\n', /resources\.0\.host must match/);
  });

  it('rejects two resources of one type#id, naming both entries', () => {
    bad(
      'name: x\nresources:\n  - {type: a, id: b}\n  - {type: c, id: d}\n  - {type: a, id: b, children: [d]}\n',
      /^bad\.yaml: resources\[0\] and resources\[2\] are both a#b; a type#id may appear once$/,
    );
  });

  it('rejects a resource id too long to name its section in a checkpoint', () => {
    bad(
      `name: x\nresources: [{type: exec.task, id: ${'i'.repeat(5000)}}]\n`,
      /^bad\.yaml: resources\[0\] \(exec\.task#i{50}…\): its id is 5000 characters long; an id may have at most 200$/,
    );
    // 200 characters that each take 9 once percent-encoded: within the id limit, not the key's.
    bad(
      `name: x\nresources: [{type: exec.task, id: ${'€'.repeat(200)}}]\n`,
      /resources\[0\] .*"type#id" takes 1810 characters as a bank key segment .*; at most 255/,
    );
    const plan = parsePlan(`name: x\nresources: [{type: exec.task, id: ${'i'.repeat(200)}}]\n`, 'ok.yaml');
    assert.equal(plan.resources[0]!.resource.id.length, 200);
  });

  it('refuses a YAML alias bomb at once, as PLAN_INVALID naming the file', () => {
    const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 9; i++) {
      const [name, prev] = [String.fromCharCode(97 + i), String.fromCharCode(96 + i)];
      levels.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
    }
    const started = Date.now();
    bad(
      `${levels.join('\n')}\nname: x\nresources: [{type: a, id: b}]\n`,
      /^bad\.yaml: its aliases \(\*name\) expand past the limit of 100; refusing it/,
    );
    assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
  });

  it('rejects a dangling or ambiguous child', () => {
    bad(
      'name: x\nresources: [{type: a, id: b, children: [c]}]\n',
      /resources\[0\] \(a#b\) names a child "c" that is not a resource/,
    );
    bad(
      'name: x\nresources: [{type: a, id: b, children: [c]}, {type: t1, id: c}, {type: t2, id: c}]\n',
      /"c" that is ambiguous \(t1#c, t2#c\); write it as type#id/,
    );
  });
});

describe('parameters', () => {
  it('merges type then type#id, recursively, the id level winning; arrays replaced whole', () => {
    const params = {
      'exec.task': {
        protect: { prepareBegin: 'freeze', prepareFinish: 'thaw', timeout: 30 },
        env: { A: '1' },
      },
      'exec.task#app': { protect: { timeout: 5 }, env: { B: '2' } },
      'fs.directory': { exclude: ['*.tmp'] },
      'fs.directory#u': { exclude: ['*.log'] },
    };
    assert.deepEqual(parametersFor(params, { type: 'exec.task', id: 'app' }), {
      protect: { prepareBegin: 'freeze', prepareFinish: 'thaw', timeout: 5 },
      env: { A: '1', B: '2' },
    });
    assert.deepEqual(parametersFor(params, { type: 'exec.task', id: 'other' }), params['exec.task']);
    assert.deepEqual(parametersFor(params, { type: 'fs.directory', id: 'u' }), { exclude: ['*.log'] });
    assert.deepEqual(deepMerge({ a: 1 }, undefined), { a: 1 });
  });
});
