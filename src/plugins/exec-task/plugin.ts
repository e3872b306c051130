/**
 * `exec.task`: runs the user's commands per operation and hook (SPEC §6). The plan holds
 * the commands for every operation; they are saved in the checkpoint, so restore and
 * verify use them, and restore-time parameters of the same shape override them.
 */
import { deepMerge } from '../params.js';
import type { HookContext, HookName, JsonSchema, Operation, PluginFactory } from '../sdk.js';
import { OutputTail, runCommand } from './command.js';

/** Bytes of the end of each of a command's output streams kept in the operation log. */
export const OUTPUT_BYTES = 64 * 1024;

/** Values of `env` this short are not hidden in output (they would blank out ordinary words). */
const SHORTEST_SECRET = 6;

/**
 * The output with every value of the plan's `env` (where secrets are passed) replaced by
 * `***`, as nothing else of `env` is ever shown.
 */
function redact(text: string, env: Record<string, string>): string {
  let out = text;
  const values = Object.values(env)
    .filter((v) => v.length >= SHORTEST_SECRET)
    .sort((a, b) => b.length - a.length);
  for (const value of values) out = out.split(value).join('***');
  return out;
}

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
        // The end of each stream goes into the operation log, whether the command succeeds or not.
        const stdout = new OutputTail(OUTPUT_BYTES);
        const stderr = new OutputTail(OUTPUT_BYTES);
        try {
          await run(ctx, stdout, stderr);
        } finally {
          ctx.keepOutput({ stdout: redact(stdout.text(), env), stderr: redact(stderr.text(), env) });
        }
      };
      const run = (ctx: HookContext, stdout: OutputTail, stderr: OutputTail) =>
        runCommand(command, {
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
          onOutput: (stream, chunk) => (stream === 'stdout' ? stdout : stderr).push(chunk),
        });
    }
    return op;
  },
});
