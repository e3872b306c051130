// @ts-check
/**
 * The shapes the dashboard works with, as JSDoc types for `tsc -p tsconfig.dashboard.json`
 * (docs/api.md has the full bodies; only the fields the dashboard reads are named here).
 * This module exports nothing at run time.
 */

/** @typedef {{project: string, token: string}} Session */

/**
 * What the router hands each view.
 * @typedef {object} Ctx
 * @property {Session} session
 * @property {HTMLElement} main where the view draws itself
 * @property {() => boolean} alive false once the user has left the view (late answers are dropped)
 * @property {(fn: () => void) => void} onCleanup runs `fn` when the view is left
 * @property {(hash: string) => void} go shows another route (or redraws this one)
 * @property {() => void} refresh redraws the current route
 * @property {(method: string, segments: (string | number)[], options?: CallOptions) => Promise<any>} call
 *   `api()` as this session; a 401 ends the session
 * @property {(button: HTMLButtonElement, fn: () => Promise<void>) => Promise<void>} action
 *   runs a button's action with the button disabled; errors go to the banner
 * @property {(res: any) => void} openOperation shows the operation a 202 answer started
 */

/** @typedef {{query?: Record<string, string | number | null | undefined>, body?: unknown}} CallOptions */

/** @typedef {{id: string, name: string, description?: string | null, bank?: unknown, plugins?: unknown[]}} Provider */

/**
 * A JSON Schema as plugins publish them (the subset the forms read).
 * @typedef {object} JsonSchema
 * @property {string | string[]} [type]
 * @property {Record<string, JsonSchema>} [properties]
 * @property {string[]} [required]
 * @property {boolean | JsonSchema} [additionalProperties]
 * @property {JsonSchema} [items]
 * @property {unknown[]} [enum]
 * @property {number} [minimum]
 * @property {number} [maximum]
 * @property {number} [minLength]
 * @property {number} [minItems]
 * @property {string} [pattern]
 * @property {string} [description]
 */

/**
 * A resource type a provider handles, with its plugin's schemas (`GET /providers/{id}`).
 * @typedef {{type: string, plugin: string, schemas: {resource: JsonSchema | null, options: JsonSchema | null,
 *   restore: JsonSchema | null, verify: JsonSchema | null, savedInfo: JsonSchema | null}}} ProviderType
 */

/**
 * @typedef {{type: string, id: string, name?: string, children?: string[], [field: string]: unknown}} PlanResource
 */

/**
 * @typedef {object} Plan
 * @property {string} id
 * @property {string} name
 * @property {string | null} [description]
 * @property {string} providerId
 * @property {PlanResource[]} resources
 * @property {Record<string, Record<string, unknown>>} [parameters]
 * @property {string} createdAt
 */

/** @typedef {{files: number, bytes: number, newBytes: number, storedBytes: number, durationMs: number}} Stats */

/**
 * A checkpoint as the list gives it.
 * @typedef {object} CheckpointSummary
 * @property {string} id
 * @property {string} plan the plan's id
 * @property {string | null} [planName]
 * @property {string} status
 * @property {string} createdAt
 * @property {string} [providerId]
 * @property {Stats} [stats]
 */

/**
 * One resource of a checkpoint (`…/checkpoints/{id}/resources`).
 * @typedef {object} ResourceListing
 * @property {string} resource `type#id`
 * @property {string} type
 * @property {string} id
 * @property {string} status
 * @property {{code?: string, message?: string}} [error]
 * @property {Stats} [stats]
 * @property {'entries' | 'info' | null} browse
 */

/** @typedef {{path: string, type: 'file' | 'dir' | 'symlink', size: number, mode: number, mtime: string, target?: string}} Entry */

/**
 * @typedef {object} OperationLog
 * @property {string} id
 * @property {string} kind
 * @property {string} status
 * @property {string | null} [planId]
 * @property {string | null} [providerId]
 * @property {string | null} [checkpointId]
 * @property {string | null} [scheduledOperationId]
 * @property {string | null} [fireAt]
 * @property {any} [result]
 * @property {{code?: string, message?: string} | null} [error]
 * @property {{resource: string, hook: string, status: string}[]} [live]
 * @property {string} createdAt
 * @property {string | null} [startedAt]
 * @property {string | null} [endedAt]
 */

/** @typedef {{id: string, name: string, properties?: {pattern?: string, timezone?: string, window?: number, start?: string, end?: string}, nextFires?: string[]}} Trigger */

/**
 * @typedef {object} ScheduledOperation
 * @property {string} id
 * @property {string} name
 * @property {string} operationType
 * @property {string} triggerId
 * @property {{planId: string, providerId?: string, retention?: Record<string, unknown>}} operationDefinition
 * @property {boolean} enabled
 * @property {string} createdAt
 */

/**
 * An agent (`hoard agent --host NAME`) or worker (`hoard worker`) up now (`GET /agents`).
 * @typedef {object} Member
 * @property {string} id unique per process
 * @property {'agent' | 'worker'} kind
 * @property {string} host the plan host an agent serves; a worker's machine
 * @property {string} version
 * @property {string[]} plugins
 * @property {number} concurrency
 * @property {number} running hooks (agents) or operations (workers) running now
 * @property {string} startedAt
 * @property {string} lastHeartbeat
 */

export {};
