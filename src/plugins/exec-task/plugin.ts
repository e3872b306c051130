/**
 * `exec.task`: runs the user's commands per operation and hook (SPEC §6). The plan holds
 * the commands for every operation; they are saved in the checkpoint, so restore and
 * verify use them, and restore-time parameters of the same shape override them.
 */
import { deepMerge } from '../params.js';
import type { HookContext, HookName, JsonSchema, Operation, PluginFactory } from '../sdk.js';
import { runCommand } from './command.js';

/** The longest `timeout`: a week, well inside what a timer can wait (about 24 days). */
export const MAX_TIMEOUT_SECONDS = 7 * 86_400;

const hooksSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    prepareBegin: { type: 'string' },
    prepareFinish: { type: 'string' },
    main: { type: 'string' },
    complete: { type: 'string' },
    /** Seconds each command of this operation may run; then its process group is killed. */
    timeout: {
      type: 'number',
      exclusiveMinimum: 0,
      maximum: MAX_TIMEOUT_SECONDS,
      description: `seconds each command may run: a finite number more than 0 and at most ${MAX_TIMEOUT_SECONDS} (7 days)`,
    },
    /**
     * Hooks that run whenever prepareBegin succeeded, even after a failure below them: put a
     * thaw in `complete` and list it here to keep the application frozen while the
     * children's main hooks copy data, and thawed whatever happens.
     */
    alwaysRun: { type: 'array', items: { enum: ['main', 'complete'] }, uniqueItems: true },
  },
};

const parametersSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    protect: hooksSchema,
    restore: hooksSchema,
    verify: hooksSchema,
    copy: hooksSchema,
    delete: hooksSchema,
    /** Extra environment for every command. */
    env: { type: 'object', additionalProperties: { type: 'string' } },
    /** Working directory of every command. */
    cwd: { type: 'string' },
  },
};

const METHODS: Record<HookName, keyof Operation> = {
  prepareBegin: 'onPrepareBegin',
  prepareFinish: 'onPrepareFinish',
  main: 'onMain',
  complete: 'onComplete',
};

interface Commands {
  prepareBegin?: string;
  prepareFinish?: string;
  main?: string;
  complete?: string;
  timeout?: number;
  alwaysRun?: ('main' | 'complete')[];
}

export const execTaskPlugin: PluginFactory = () => ({
  name: 'exec.task',
  description: 'Runs your commands for each operation and hook (freeze, thaw, dump, …)',
  types: [
    {
      type: 'exec.task',
      schemas: {
        resource: { type: 'object', additionalProperties: false, properties: {} },
        options: parametersSchema,
        restore: parametersSchema,
        verify: parametersSchema,
      },
    },
  ],
  operation(kind, _resource, { parameters, protectParameters }) {
    const merged = deepMerge(protectParameters, parameters) as Record<string, unknown>;
    const commands = (merged[kind] ?? {}) as Commands;
    const env = (merged.env ?? {}) as Record<string, string>;
    const cwd = merged.cwd as string | undefined;
    const op: Operation = {};
    if (commands.alwaysRun?.length) op.alwaysRun = commands.alwaysRun;
    for (const hook of ['prepareBegin', 'prepareFinish', 'main', 'complete'] as const) {
      const command = commands[hook];
      if (!command) continue;
      (op[METHODS[hook]] as (ctx: HookContext) => Promise<void>) = async (ctx) => {
        await runCommand(command, {
          env: {
            ...env,
            HOARD_OPERATION: kind,
            HOARD_HOOK: hook,
            HOARD_RESOURCE_TYPE: ctx.resource.type,
            HOARD_RESOURCE_ID: ctx.resource.id,
            HOARD_CHECKPOINT_ID: ctx.checkpoint.id,
            HOARD_PLAN: ctx.checkpoint.plan,
          },
          ...(cwd ? { cwd } : {}),
          ...(commands.timeout ? { timeoutMs: commands.timeout * 1000 } : {}),
          signal: ctx.signal,
        });
      };
    }
    return op;
  },
});
