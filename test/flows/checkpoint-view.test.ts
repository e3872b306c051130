import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type OperationResult, operationSucceeded } from '../../src/flows/checkpoint-view.js';

function result(checkpointStatus: string, operationStatus?: string): OperationResult {
  return {
    checkpoint: {
      id: '20260101T000000000Z-00000000',
      status: checkpointStatus,
      plan: 'p',
      provider: { id: 'local', name: 'local' },
      createdAt: '2026-01-01T00:00:00.000Z',
      updatedAt: '2026-01-01T00:00:00.000Z',
      resources: [],
    },
    ...(operationStatus
      ? { operation: { status: operationStatus } as unknown as NonNullable<OperationResult['operation']> }
      : {}),
  };
}

describe('operationSucceeded', () => {
  it('a protect or a copy succeeded when it left an available checkpoint', () => {
    for (const kind of ['protect', 'copy'] as const) {
      assert.equal(operationSucceeded(kind, result('available')), true);
      assert.equal(operationSucceeded(kind, result('error')), false);
    }
  });

  it('a restore or a verify succeeded when its operation did, whatever the checkpoint', () => {
    for (const kind of ['restore', 'verify'] as const) {
      assert.equal(operationSucceeded(kind, result('available', 'succeeded')), true);
      assert.equal(operationSucceeded(kind, result('available', 'failed')), false);
      assert.equal(operationSucceeded(kind, result('available')), false);
    }
  });

  it('a delete succeeded when the checkpoint is deleted', () => {
    assert.equal(operationSucceeded('delete', result('deleted')), true);
    assert.equal(operationSucceeded('delete', result('error_deleting')), false);
  });
});
