/**
 * `hoard/testkit`: what a plugin's own tests use. `PluginHarness` runs a plugin's operations
 * over a small resource graph against an in-memory bank; `pluginConformance` runs the checks
 * every plugin should pass (docs/writing-a-plugin.md, "The conformance kit").
 */
export { MemoryBank } from './bank/index.js';
export {
  CONFORMANCE_CHECKS,
  type ConformanceCheck,
  type ConformanceFixture,
  type ConformanceResult,
  pluginConformance,
} from './flows/conformance.js';
export { type HarnessOptions, PluginHarness, type RunOptions } from './flows/testkit.js';
