/** exec.task's parameter schema: what a plan may say about its commands. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HoardError } from '../../src/errors.js';
import { execTaskPlugin, MAX_TIMEOUT_SECONDS } from '../../src/plugins/exec-task/plugin.js';
import { validate } from '../../src/plugins/schema.js';
import type { JsonSchema } from '../../src/plugins/sdk.js';

const spec = (await execTaskPlugin({})).types[0]!;
const options = spec.schemas!.options as JsonSchema;

describe('exec.task parameters', () => {
  it('a timeout is a finite number of seconds, more than 0 and at most 7 days', () => {
    validate(options, { protect: { main: 'true', timeout: 0.5 } }, 'plan.yaml');
    validate(options, { restore: { timeout: MAX_TIMEOUT_SECONDS } }, 'plan.yaml');
    assert.equal(MAX_TIMEOUT_SECONDS, 604_800);
    const refused = (timeout: number, hook: string, message: RegExp) =>
      assert.throws(
        () => validate(options, { [hook]: { timeout } }, 'plan.yaml: parameters for exec.task#a'),
        (e: unknown) =>
          e instanceof HoardError &&
          e.code === 'PARAMS_INVALID' &&
          message.test(e.message) &&
          e.message.includes('7 days'),
      );
    refused(
      1e308,
      'protect',
      /^plan\.yaml: parameters for exec\.task#a: protect\.timeout must be at most 604800 \(seconds each command may run: a finite number more than 0 and at most 604800 \(7 days\)\), got 1e\+308$/,
    );
    refused(Number.POSITIVE_INFINITY, 'verify', /verify\.timeout must be at most 604800 .*got Infinity/);
    refused(-1, 'delete', /delete\.timeout must be more than 0 .*got -1/);
    refused(0, 'copy', /copy\.timeout must be more than 0/);
    refused(Number.NaN, 'restore', /restore\.timeout must be .*got NaN/);
  });
});
