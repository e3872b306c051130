import type { Operation, PluginFactory } from '../sdk.js';

const nothing = async (): Promise<void> => {};
const operation: Operation = {
  onPrepareBegin: nothing,
  onPrepareFinish: nothing,
  onMain: nothing,
  onComplete: nothing,
};

/** Resources of type `noop`: every hook of every operation does nothing. For tests and benchmarks. */
export const noopPlugin: PluginFactory = () => ({
  name: 'noop',
  description: 'Every hook is a no-op (tests and benchmarks)',
  types: [
    {
      type: 'noop',
      schemas: {
        resource: { type: 'object', additionalProperties: true },
        options: { type: 'object' },
        restore: { type: 'object' },
        verify: { type: 'object' },
      },
    },
  ],
  operation: () => operation,
});
