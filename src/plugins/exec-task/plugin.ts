/**
 * `exec.task`: runs the user's commands per operation and hook (SPEC §6). The plan holds
 * the commands for every operation; they are saved in the checkpoint, so restore and
 * verify use them, and restore-time parameters of the same shape override them.
 */

import { deepMerge } from '../params.js';
import {
  definePlugin,
  defineType,
  type HookContext,
  type HookName,
  type Operation,
  type OperationKind,
  type OperationParameters,
} from '../sdk.js';
import { type Static, Type } from '../typebox-lite.js';
import type { OutputTail } from './command.js';

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

const hooksSchema = Type.Object(
  {
    prepareBegin: Type.Optional(Type.String()),
    prepareFinish: Type.Optional(Type.String()),
    main: Type.Optional(Type.String()),
    complete: Type.Optional(Type.String()),
    /** Seconds each command of this operation may run; then its process group is killed. */
    timeout: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        maximum: MAX_TIMEOUT_SECONDS,
        description: `seconds each command may run: a finite number more than 0 and at most ${MAX_TIMEOUT_SECONDS} (7 days)`,
      }),
    ),
    /**
     * Hooks that run whenever prepareBegin succeeded, even after a failure below them: put a
     * thaw in `complete` and list it here to keep the application frozen while the
     * children's main hooks copy data, and thawed whatever happens.
     */
    alwaysRun: Type.Optional(
      Type.Array(Type.Union([Type.Literal('main'), Type.Literal('complete')]), { uniqueItems: true }),
    ),
    /**
     * Hooks whose commands may run again after the agent running them died (SPEC §12): list
     * a hook here only when running its command twice does no harm. Default none.
     */
    idempotent: Type.Optional(
      Type.Array(
        Type.Union([
          Type.Literal('prepareBegin'),
          Type.Literal('prepareFinish'),
          Type.Literal('main'),
          Type.Literal('complete'),
        ]),
        { uniqueItems: true },
      ),
    ),
  },
  { additionalProperties: false },
);

const parametersSchema = Type.Object(
  {
    protect: Type.Optional(hooksSchema),
    restore: Type.Optional(hooksSchema),
    verify: Type.Optional(hooksSchema),
    copy: Type.Optional(hooksSchema),
    delete: Type.Optional(hooksSchema),
    /** Extra environment for every command. */
    env: Type.Optional(Type.Record(Type.String(), Type.String())),
    /** Working directory of every command. */
    cwd: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

/** The commands of every operation, their environment and working directory. */
type ExecParameters = Static<typeof parametersSchema>;

const METHODS: Record<HookName, keyof Operation> = {
  prepareBegin: 'onPrepareBegin',
  prepareFinish: 'onPrepareFinish',
  main: 'onMain',
  complete: 'onComplete',
};

/**
 * The Operation of `kind`: the plan's commands (saved as protect parameters) with this
 * operation's parameters merged over them. Copy and delete parameters are not validated by
 * any schema, so what they hold is checked as it is used.
 */
function commandsOperation(
  kind: OperationKind,
  { parameters, protectParameters }: OperationParameters<Partial<ExecParameters>, ExecParameters>,
): Operation {
  const merged = deepMerge(protectParameters, parameters) as ExecParameters;
  const commands = merged[kind] ?? {};
  const env = merged.env ?? {};
  const cwd = merged.cwd;
  const op: Operation = {};
  if (commands.alwaysRun?.length) op.alwaysRun = commands.alwaysRun;
  if (commands.idempotent?.length) op.idempotent = commands.idempotent;
  for (const hook of ['prepareBegin', 'prepareFinish', 'main', 'complete'] as const) {
    const command = commands[hook];
    if (!command) continue;
    (op[METHODS[hook]] as (ctx: HookContext) => Promise<void>) = async (ctx) => {
      // Imported when a command runs: loading the plugin (every command that loads the
      // providers) stays cheap.
      const { OutputTail, runCommand } = await import('./command.js');
      // The end of each stream goes into the operation log, whether the command succeeds or not.
      const stdout = new OutputTail(OUTPUT_BYTES);
      const stderr = new OutputTail(OUTPUT_BYTES);
      try {
        await run(ctx, stdout, stderr, runCommand);
      } finally {
        ctx.keepOutput({ stdout: redact(stdout.text(), env), stderr: redact(stderr.text(), env) });
      }
    };
    const run = (
      ctx: HookContext,
      stdout: OutputTail,
      stderr: OutputTail,
      runCommand: typeof import('./command.js').runCommand,
    ) =>
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
}

export const execTaskPlugin = definePlugin(() => ({
  name: 'exec.task',
  description: 'Runs your commands for each operation and hook (freeze, thaw, dump, …)',
  types: [
    defineType({
      type: 'exec.task',
      schemas: {
        resource: Type.Object({}, { additionalProperties: false }),
        options: parametersSchema,
        restore: parametersSchema,
        verify: parametersSchema,
      },
      // Every operation runs the commands given for it (delete and copy too).
      operations: {
        protect: (_resource, parameters) => commandsOperation('protect', parameters),
        restore: (_resource, parameters) => commandsOperation('restore', parameters),
        verify: (_resource, parameters) => commandsOperation('verify', parameters),
        copy: (_resource, parameters) => commandsOperation('copy', parameters),
        delete: (_resource, parameters) => commandsOperation('delete', parameters),
      },
    }),
  ],
}));
