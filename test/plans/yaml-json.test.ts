/**
 * parseYaml's JSON path (src/plans/yaml.ts): a JSON document is read by JSON.parse, without
 * loading the yaml package, and gives what the YAML reader gives; what JSON.parse would read
 * differently (a repeated key, `__proto__`) still goes to the YAML reader.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { HoardError } from '../../src/errors.js';
import { parseYaml } from '../../src/plans/yaml.js';

const viaYaml = (text: string) => parseDocument(text, { uniqueKeys: true }).toJS();

describe('parseYaml of a JSON document', () => {
  it('gives what the YAML reader gives', () => {
    for (const text of [
      '{"name":"x","resources":[{"type":"fs.directory","id":"d","path":"/tmp/d"}]}',
      '  [1, 2.5, -3e2, true, null, "a\\"b", {"k: v": "\\":\\"", "e": {}}]\n',
      '{"unicode":"caf\\u00e9 ☕","nested":{"a":[[],{}],"b":"x\\\\"}}',
    ]) {
      assert.deepEqual(parseYaml(text, 'p.json', 'PLAN_INVALID'), viaYaml(text), text);
    }
  });

  it('refuses a repeated key as the YAML reader does, naming line and column', () => {
    for (const text of ['{"a": 1, "a": 2}', '[{"b": {"c": 1, "c": 1}}]']) {
      assert.throws(
        () => parseYaml(text, 'p.json', 'PLAN_INVALID'),
        (error: unknown) =>
          error instanceof HoardError &&
          error.code === 'PLAN_INVALID' &&
          /^p\.json:1:\d+: not valid YAML or JSON: Map keys must be unique/.test(error.message),
      );
    }
  });

  it('does not load the yaml package for it; YAML loads it', () => {
    const yamlModule = fileURLToPath(new URL('../../src/plans/yaml.js', import.meta.url));
    const script = (text: string) => `
      const { createRequire } = await import('node:module');
      const { parseYaml } = await import(${JSON.stringify(yamlModule)});
      parseYaml(${JSON.stringify(text)}, 'p', 'PLAN_INVALID');
      const loaded = Object.keys(createRequire(import.meta.url).cache).some((f) => /[\\\\/]node_modules[\\\\/]yaml[\\\\/]/.test(f));
      process.stdout.write(String(loaded));`;
    const run = (text: string) =>
      execFileSync(process.execPath, ['--input-type=module', '-e', script(text)], { encoding: 'utf8' });
    assert.equal(run('{"name": "x", "resources": []}'), 'false');
    assert.equal(run('name: x\nresources: []\n'), 'true');
  });
});
