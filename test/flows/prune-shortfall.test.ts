/**
 * What makes a prune fail, decided once (flows/prune.ts `pruneShortfall`) for the CLI's exit
 * status and the service's RETENTION_INCOMPLETE: every checkpoint it was to delete and did not,
 * including a delete that ended `error_deleting` without an error and a retried one.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { type PruneResult, pruneShortfall } from '../../src/flows/prune.js';

const row = (id: string, keep: boolean, more: Partial<PruneResult['decisions'][number]> = {}) => ({
  id,
  keep,
  reasons: [],
  createdAt: '2026-01-01T00:00:00.000Z',
  status: 'available',
  ...more,
});

it('a prune falls short by every checkpoint it was to delete and did not, and never in a dry run', () => {
  const result: PruneResult = {
    plan: 'p',
    policy: { kind: 'max_backups', count: 1 },
    dryRun: false,
    retried: [
      { id: 'r-deleted', deleted: true },
      { id: 'r-left', deleted: false, error: 'bank down' },
    ],
    decisions: [
      row('kept', true),
      row('gone', false, { deleted: true }),
      row('failed', false, { deleted: false, error: 'bank down' }),
      // The delete ran and ended error_deleting: no exception, still not deleted.
      row('stuck', false, { deleted: false }),
    ],
  };
  assert.deepEqual(pruneShortfall(result), ['r-left', 'failed', 'stuck']);
  assert.deepEqual(pruneShortfall({ ...result, dryRun: true }), []);
});
