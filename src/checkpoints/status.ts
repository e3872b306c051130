import { HoardError } from '../errors.js';

export type CheckpointStatus =
  | 'protecting'
  | 'available'
  | 'error'
  | 'copying'
  | 'deleting'
  | 'deleted'
  | 'error_deleting';

export const CHECKPOINT_STATUSES: readonly CheckpointStatus[] = [
  'protecting',
  'available',
  'error',
  'copying',
  'deleting',
  'deleted',
  'error_deleting',
];

/** The only status changes there are (SPEC §4). */
const ALLOWED: Record<CheckpointStatus, readonly CheckpointStatus[]> = {
  protecting: ['available', 'error'],
  copying: ['available', 'error'],
  available: ['deleting'],
  error: ['deleting'],
  deleting: ['deleted', 'error_deleting'],
  error_deleting: ['deleting'],
  deleted: [],
};

export function assertTransition(id: string, from: CheckpointStatus, to: CheckpointStatus): void {
  if (!ALLOWED[from].includes(to)) {
    throw new HoardError('CHECKPOINT_STATE', `checkpoint ${id} is ${from}; it cannot become ${to}`, {
      details: { checkpoint: id, status: from, wanted: to },
    });
  }
}
