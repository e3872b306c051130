import { definePlugin, defineType, type Operation } from '../sdk.js';
import { Type } from '../typebox-lite.js';

const nothing = async (): Promise<void> => {};
const operation: Operation = {
  onPrepareBegin: nothing,
  onPrepareFinish: nothing,
  onMain: nothing,
  onComplete: nothing,
};
const every = () => operation;

/** Resources of type `noop`: every hook of every operation does nothing. For tests and benchmarks. */
export const noopPlugin = definePlugin(() => ({
  name: 'noop',
  description: 'Every hook is a no-op (tests and benchmarks)',
  types: [
    defineType({
      type: 'noop',
      schemas: {
        resource: Type.Object({}, { additionalProperties: true }),
        options: Type.Object({}),
        restore: Type.Object({}),
        verify: Type.Object({}),
      },
      operations: { protect: every, restore: every, verify: every, copy: every, delete: every },
    }),
  ],
}));
