/**
 * What the CLI needs of the flows before it knows which command runs (its options' checks,
 * its help text, its formatting): names from light modules only, so that `hoard --help`
 * loads no flow, bank or plugin. Keep it that way: a module added here is loaded by every
 * `hoard` command.
 */
export { CHECKPOINT_ID } from '../checkpoints/keys.js';
export { CHECKPOINT_STATUSES, type CheckpointStatus } from '../checkpoints/status.js';

/**
 * `message` without the `type#id hook: ` (or `type#id: `) that hook errors start with, for a
 * line that names the resource itself: so that it is named once.
 */
export function withoutResource(message: string, resource: string, hook?: string): string {
  for (const prefix of [...(hook ? [`${resource} ${hook}: `] : []), `${resource}: `])
    if (message.startsWith(prefix)) return message.slice(prefix.length);
  return message;
}
