/**
 * The SDK's public API (what `import … from 'hoard'` offers) is written down in
 * docs/api-report/hoard.api.md by API Extractor, so that a change to it shows in review.
 * This fails when the build's declarations and the report differ.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

it("the SDK's API report matches the built declarations", () => {
  const run = spawnSync(
    process.execPath,
    ['node_modules/@microsoft/api-extractor/bin/api-extractor', 'run', '--config', 'api-extractor.json'],
    { cwd: ROOT, encoding: 'utf8' },
  );
  assert.equal(
    run.status,
    0,
    `the SDK's public API changed: run \`npm run api-report\`, review docs/api-report/hoard.api.md and commit it\n${run.stdout.slice(-3000)}${run.stderr.slice(-1000)}`,
  );
});
