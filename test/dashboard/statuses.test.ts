/**
 * The dashboard's status and kind lists (dashboard/statuses.js, imported by every view) are
 * the server's: a status the server adds or drops must be added or dropped there too, or a
 * filter offers a value the API refuses (400) or hides one it answers with.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CHECKPOINT_STATUSES } from '../../src/checkpoints/status.js';
import { TERMINAL_STATES } from '../../src/engine/types.js';
import { checkpointQuery, operationLogQuery } from '../../src/service/schemas.js';

interface DashboardStatuses {
  CHECKPOINT_STATUSES: string[];
  DELETABLE: Set<string>;
  OPERATION_KINDS: string[];
  OPERATION_STATUSES: string[];
  OPERATION_DONE: Set<string>;
  CANCELLABLE: Set<string>;
  TASK_STATUSES: string[];
  TASK_DONE: Set<string>;
}

// The module is plain browser JS with no DOM use, so Node can import it as it is.
const dashboard = (await import(
  new URL('../../../dashboard/statuses.js', import.meta.url).href
)) as DashboardStatuses;

const sorted = (values: Iterable<string>) => [...values].sort();

describe('the dashboard’s status lists', () => {
  it('offer exactly the checkpoint statuses the server has and its list filter takes', () => {
    assert.deepEqual(dashboard.CHECKPOINT_STATUSES, [...CHECKPOINT_STATUSES]);
    assert.deepEqual(sorted(dashboard.CHECKPOINT_STATUSES), sorted(checkpointQuery.properties.status.enum));
    for (const s of dashboard.DELETABLE) assert.ok(CHECKPOINT_STATUSES.includes(s as never), s);
  });

  it('offer exactly the operation kinds and statuses the operation log filter takes', () => {
    assert.deepEqual(sorted(dashboard.OPERATION_KINDS), sorted(operationLogQuery.properties.kind.enum));
    assert.deepEqual(sorted(dashboard.OPERATION_STATUSES), sorted(operationLogQuery.properties.status.enum));
    // Every status is either under way (cancellable) or done, never both.
    for (const s of dashboard.OPERATION_STATUSES)
      assert.notEqual(dashboard.CANCELLABLE.has(s), dashboard.OPERATION_DONE.has(s), s);
  });

  it('know the engine’s seven task states and which of them are final', () => {
    assert.deepEqual(sorted(dashboard.TASK_DONE), sorted(TERMINAL_STATES));
    assert.deepEqual(sorted(dashboard.TASK_STATUSES), sorted([...TERMINAL_STATES, 'pending', 'running']));
  });
});
