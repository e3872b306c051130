export { BankJournal } from './journal.js';
export * from './keys.js';
export { CHECKPOINT_STATUSES, type CheckpointStatus } from './status.js';
export {
  type CheckpointMeta,
  CheckpointStore,
  type CheckpointSummary,
  type ListFilter,
  PROCESS_OWNER,
  type ResourceStatus,
} from './store.js';
