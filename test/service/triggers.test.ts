/** Time triggers: which cron patterns a trigger may have. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HoardError } from '../../src/errors.js';
import { checkTrigger } from '../../src/service/triggers.js';

describe('trigger patterns', () => {
  it('takes five fields, or six with seconds first', () => {
    checkTrigger({ pattern: '0 3 * * *' });
    checkTrigger({ pattern: '30 0 3 * * MON-FRI' });
  });

  it('refuses seven fields (a year), nicknames and too few fields, naming properties.pattern', () => {
    for (const [pattern, fields] of [
      ['0 0 3 * * * 2030', 7],
      ['@daily', 1],
      ['0 3 * *', 4],
    ] as const) {
      assert.throws(
        () => checkTrigger({ pattern }),
        (e: unknown) =>
          e instanceof HoardError &&
          e.code === 'TRIGGER_INVALID' &&
          e.details?.field === 'pattern' &&
          e.message ===
            `trigger properties.pattern: "${pattern}" is not a cron pattern: it has ${fields} field${fields === 1 ? '' : 's'}; a pattern has five (minute hour day-of-month month day-of-week), or six with seconds first`,
        pattern,
      );
    }
  });
});
