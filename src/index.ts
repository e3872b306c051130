/**
 * Hoard's public API for plugin authors and embedders. The engine has its own entry point,
 * `hoard/engine`.
 */

export type {
  AcquireLeaseOptions,
  Bank,
  FsBankOptions,
  Lease,
  LeaseInfo,
  ListOptions,
  MemoryBankOptions,
  ObjectInfo,
  Pieces,
  PutData,
  ReadOptions,
  SectionOptions,
  StagedObject,
} from './bank/index.js';
export { FsBank, MemoryBank } from './bank/index.js';
export type { SweepReport } from './bank/store.js';
export { type ErrorCode, type ErrorInfo, errorInfo, HoardError } from './errors.js';
export type { OperationLog, OperationStatus, ResourceLog, TaskLog } from './flows/operation.js';
export { type HarnessOptions, PluginHarness, type RunOptions as HarnessRunOptions } from './flows/testkit.js';
export {
  type CommandOptions,
  type CommandResult,
  OutputTail,
  runCommand,
} from './plugins/exec-task/command.js';
export { deepMerge, type Parameters, parametersFor } from './plugins/params.js';
export { lastLines } from './plugins/process-util.js';
export * from './plugins/sdk.js';
/** TypeBox, to write a type's schemas so that its parameters are typed (`Type.Object(…)`). */
export { type Static, type TSchema, Type } from './plugins/typebox.js';
export type { GraphInput } from './resources/graph.js';
export type { Protectable } from './resources/protectable.js';
export { parseResourceKey, type Resource, resourceKey } from './resources/resource.js';
/** The content store `ctx.store` is (docs/store-format.md), and what writing to it returns. */
export {
  type BatchOptions,
  type BlobBatch,
  type BlobLocation,
  type CheckOptions,
  type CheckReport,
  type CloseResult,
  type CompressionMode,
  ContentStore,
  type EncodedBlob,
  type PackIndex,
  type PruneOptions,
  type PruneReport,
  type References,
  type StoreOptions,
  type StoreWriter,
  type WriteResult,
} from './store/index.js';
