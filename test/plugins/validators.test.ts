import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');

describe('precompiled validators', () => {
  it('src/plugins/validators.generated.cts is what scripts/gen-validators.mjs makes of the schemas now', async () => {
    const script = join(root, 'scripts/gen-validators.mjs');
    const { generate } = (await import(script)) as { generate: () => Promise<string> };
    const onDisk = await readFile(join(root, 'src/plugins/validators.generated.cts'), 'utf8');
    assert.ok(
      onDisk === (await generate()),
      'a schema changed: run npx tsc -p tsconfig.json && node scripts/gen-validators.mjs, and commit the file',
    );
  });

  it('checking a plan of built-in types loads no Ajv, and a bad plan is still named field by field', () => {
    const program = `
      const { parsePlan, checkPlan } = await import(${JSON.stringify(join(root, 'build/src/plans/plan.js'))});
      const { PluginRegistry } = await import(${JSON.stringify(join(root, 'build/src/plugins/registry.js'))});
      const { BUILTIN_PLUGINS } = await import(${JSON.stringify(join(root, 'build/src/plugins/builtins.js'))});
      const registry = new PluginRegistry('test');
      registry.add(await BUILTIN_PLUGINS.get('fs.directory')({}));
      registry.add(await BUILTIN_PLUGINS.get('noop')({}));
      const plan = parsePlan('name: p\\nresources:\\n  - {type: fs.directory, id: files, path: /tmp}\\n  - {type: noop, id: n}\\n', 'p.yaml');
      checkPlan(plan, registry);
      let message = '';
      try { parsePlan('name: p\\nresources:\\n  - {type: noop, id: n, children: [1]}\\nextra: 1\\n', 'bad.yaml'); }
      catch (error) { message = error.message; }
      const { createRequire } = await import('node:module');
      const loaded = Object.keys(createRequire(import.meta.url).cache).filter((f) => /node_modules\\/ajv\\/dist\\/(ajv|core)\\.js$/.test(f));
      console.log(JSON.stringify({ loaded, message }));
    `;
    const out = JSON.parse(
      execFileSync(process.execPath, ['--input-type=module', '-e', program], { encoding: 'utf8' }),
    ) as { loaded: string[]; message: string };
    assert.deepEqual(out.loaded, []);
    assert.match(out.message, /^bad\.yaml: /);
    assert.match(out.message, /extra is not a known field/);
    assert.match(out.message, /resources\.0\.children\.0 must be a string/);
  });
});
