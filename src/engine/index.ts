export { ActionList, type ActionOptions, type RelationOptions } from './actions.js';
export { type Clock, SimulatedClock, sleep, systemClock } from './clock.js';
export { type CompiledGraph, TaskGraph } from './graph.js';
export {
  FileJournal,
  type FileJournalOptions,
  GroupCommit,
  type Journal,
  type JournalRecord,
  journalLines,
  MemoryJournal,
  parseJournalLine,
} from './journal.js';
export { Run, runGraph, startRun } from './run.js';
export * from './types.js';
