/**
 * Hoard's public API for plugin authors and embedders. The engine has its own entry point,
 * `hoard/engine`.
 */
export type { Bank, Lease } from './bank/index.js';
export { FsBank, MemoryBank } from './bank/index.js';
export { type ErrorCode, type ErrorInfo, errorInfo, HoardError } from './errors.js';
export type { OperationLog, TaskLog } from './flows/operation.js';
export { type HarnessOptions, PluginHarness } from './flows/testkit.js';
export { deepMerge, type Parameters, parametersFor } from './plugins/params.js';
export * from './plugins/sdk.js';
export type { Protectable } from './resources/protectable.js';
export { parseResourceKey, type Resource, resourceKey } from './resources/resource.js';
