/**
 * JSON schemas of the API's paths, queries and bodies. Fastify validates every request
 * against them (bodies strictly: no unknown fields, no type coercion) and @fastify/swagger
 * turns the same schemas into `/openapi.json`.
 */
import { OPERATION_KINDS, OPERATION_LOG_STATUSES } from '../catalog/index.js';
import { MAX_WINDOW_SECONDS } from './triggers.js';

const PROJECT = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' } as const;
const UUID = {
  type: 'string',
  pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
} as const;
export const CHECKPOINT_ID = { type: 'string', pattern: '^\\d{8}T\\d{9}Z-[0-9a-f]{8}$' } as const;
const NAME = { type: 'string', minLength: 1, maxLength: 128 } as const;
const PROVIDER = { type: 'string', minLength: 1, maxLength: 64 } as const;

export const projectParams = {
  type: 'object',
  required: ['project'],
  properties: { project: PROJECT },
} as const;

export const idParams = {
  type: 'object',
  required: ['project', 'id'],
  properties: { project: PROJECT, id: UUID },
} as const;

export const providerParams = {
  type: 'object',
  required: ['project', 'providerId'],
  properties: { project: PROJECT, providerId: PROVIDER },
} as const;

export const checkpointParams = {
  type: 'object',
  required: ['project', 'providerId', 'checkpointId'],
  properties: { project: PROJECT, providerId: PROVIDER, checkpointId: CHECKPOINT_ID },
} as const;

/** A resource of a checkpoint: `type#id` (`#` sent as %23), or an id alone when one resource has it. */
export const checkpointResourceParams = {
  type: 'object',
  required: ['project', 'providerId', 'checkpointId', 'resource'],
  properties: {
    project: PROJECT,
    providerId: PROVIDER,
    checkpointId: CHECKPOINT_ID,
    resource: { type: 'string', minLength: 1, maxLength: 1024 },
  },
} as const;

export const browseQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    /** A path inside the resource ('' or absent: its root). */
    path: { type: 'string', maxLength: 4096 },
    recursive: { type: 'boolean' },
  },
} as const;

export const diffQuery = {
  type: 'object',
  additionalProperties: false,
  required: ['from'],
  properties: { from: CHECKPOINT_ID },
} as const;

export const page = {
  limit: { type: 'integer', minimum: 1, maximum: 1000 },
  marker: { type: 'string', minLength: 1, maxLength: 64 },
} as const;

export const pageQuery = { type: 'object', additionalProperties: false, properties: page } as const;

const STATUSES = ['protecting', 'available', 'error', 'deleting', 'deleted', 'error_deleting', 'copying'];
export const checkpointQuery = {
  type: 'object',
  additionalProperties: false,
  // The marker is a checkpoint id: anything else would silently give the first page, or none.
  properties: {
    ...page,
    marker: CHECKPOINT_ID,
    planId: UUID,
    status: { type: 'string', enum: STATUSES },
    all: { type: 'boolean', description: 'admin tokens only: every checkpoint of the bank, whoever owns it' },
  },
} as const;

export const planBody = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'resources'],
  properties: {
    name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._ -]{0,127}$' },
    providerId: PROVIDER,
    description: { type: 'string', maxLength: 1000 },
    resources: { type: 'array', minItems: 1, maxItems: 10_000, items: { type: 'object' } },
    parameters: { type: 'object' },
  },
} as const;

export const protectBody = {
  type: 'object',
  additionalProperties: false,
  required: ['planId'],
  properties: { planId: UUID },
} as const;

/** A partial restore or verify: the resources (`type#id`) to run, each once. */
const RESOURCES = {
  type: 'array',
  minItems: 1,
  maxItems: 10_000,
  uniqueItems: true,
  items: { type: 'string', minLength: 1, maxLength: 1024 },
} as const;

export const restoreBody = {
  type: 'object',
  additionalProperties: false,
  required: ['providerId', 'checkpointId'],
  properties: {
    providerId: PROVIDER,
    checkpointId: CHECKPOINT_ID,
    target: { type: 'string', minLength: 1, maxLength: 4096 },
    parameters: { type: 'object' },
    overwrite: { type: 'boolean' },
    resources: RESOURCES,
  },
} as const;

export const verifyBody = {
  type: 'object',
  additionalProperties: false,
  required: ['providerId', 'checkpointId'],
  properties: {
    providerId: PROVIDER,
    checkpointId: CHECKPOINT_ID,
    parameters: { type: 'object' },
    resources: RESOURCES,
  },
} as const;

export const copyBody = {
  type: 'object',
  additionalProperties: false,
  required: ['providerId', 'checkpointId', 'toProviderId'],
  properties: { providerId: PROVIDER, checkpointId: CHECKPOINT_ID, toProviderId: PROVIDER },
} as const;

export const triggerBody = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'type', 'properties'],
  properties: {
    name: NAME,
    type: { type: 'string', enum: ['time'] },
    properties: {
      type: 'object',
      additionalProperties: false,
      required: ['pattern'],
      properties: {
        pattern: { type: 'string', minLength: 1, maxLength: 200 },
        timezone: { type: 'string', maxLength: 64 },
        start: { type: 'string', maxLength: 40 },
        end: { type: 'string', maxLength: 40 },
        window: { type: 'integer', minimum: 0, maximum: MAX_WINDOW_SECONDS },
      },
    },
  },
} as const;

export const scheduledOperationBody = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'operationType', 'triggerId', 'operationDefinition'],
  properties: {
    name: NAME,
    description: { type: 'string', maxLength: 1000 },
    operationType: { type: 'string', enum: ['protect', 'retention_protect'] },
    triggerId: UUID,
    operationDefinition: {
      type: 'object',
      additionalProperties: false,
      required: ['planId'],
      properties: { planId: UUID, providerId: PROVIDER, retention: { type: 'object' } },
    },
    enabled: { type: 'boolean' },
  },
} as const;

export const enabledBody = {
  type: 'object',
  additionalProperties: false,
  required: ['enabled'],
  properties: { enabled: { type: 'boolean' } },
} as const;

const KINDS = [...OPERATION_KINDS];
export const operationLogQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...page,
    kind: { type: 'string', enum: KINDS },
    status: { type: 'string', enum: [...OPERATION_LOG_STATUSES] },
    planId: UUID,
    checkpointId: CHECKPOINT_ID,
    scheduledOperationId: UUID,
  },
} as const;

export const graphQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { operation: { type: 'string', enum: ['protect', 'restore', 'verify', 'delete'] } },
} as const;

export const eventsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { access_token: { type: 'string' } },
} as const;

/** SPEC §13: what a protect did, per resource and in total. Absent for checkpoints protected before. */
const STATS = {
  type: 'object',
  description:
    'files and bytes: the logical content; newBytes: what the protect added to the bank before compression (not deduplicated); storedBytes: what it added as stored; durationMs: the resource hooks’ time added up (in total: the protect’s wall time)',
  required: ['files', 'bytes', 'newBytes', 'storedBytes', 'durationMs'],
  properties: {
    files: { type: 'integer' },
    bytes: { type: 'integer' },
    newBytes: { type: 'integer' },
    storedBytes: { type: 'integer' },
    durationMs: { type: 'integer' },
  },
} as const;

/** Responses are described, not trimmed: every object lets through fields not listed here. */
const OPEN = { type: 'object', additionalProperties: true } as const;

/** Whose a checkpoint is (docs/api.md, "Whose checkpoints"). */
const OWNER_FIELDS = {
  plan: {
    type: 'string',
    description: "the plan's key in the bank: a service plan's id, or a plan file's name (hoard protect)",
  },
  planId: { type: 'string', nullable: true, description: 'the catalog plan it belongs to; null if none' },
  planName: { type: 'string', nullable: true, description: "the plan's name" },
  project: {
    type: 'string',
    nullable: true,
    description: 'the project that owns it; null: no project (only admins see it)',
  },
  origin: {
    type: 'string',
    enum: ['service', 'cli'],
    description: 'service: made by the API or a schedule; cli: by `hoard protect` of a plan file',
  },
} as const;

const CHECKPOINT = {
  ...OPEN,
  properties: {
    id: CHECKPOINT_ID,
    status: { type: 'string', enum: STATUSES },
    ...OWNER_FIELDS,
    createdAt: { type: 'string' },
    resources: {
      type: 'array',
      items: { ...OPEN, properties: { type: { type: 'string' }, id: { type: 'string' }, stats: STATS } },
    },
    stats: STATS,
  },
} as const;

const TASK_OUTPUT = {
  type: 'string',
  description: 'the end (last 64 KiB) of what the hook’s command wrote (exec.task); absent if nothing',
} as const;

/** The log of the protect that made a checkpoint; its tasks carry their commands' output. */
const PROTECT_LOG = {
  ...OPEN,
  properties: {
    id: { type: 'string' },
    kind: { type: 'string' },
    status: { type: 'string' },
    tasks: {
      type: 'array',
      items: {
        ...OPEN,
        properties: {
          resource: { type: 'string' },
          hook: { type: 'string' },
          status: { type: 'string' },
          stdout: TASK_OUTPUT,
          stderr: TASK_OUTPUT,
        },
      },
    },
  },
} as const;

export const checkpointListResponse = {
  200: {
    ...OPEN,
    properties: {
      checkpoints: {
        type: 'array',
        // Every field named, so the serializer takes none by its slow path for extra ones.
        items: {
          ...OPEN,
          properties: {
            id: CHECKPOINT_ID,
            status: { type: 'string', enum: STATUSES },
            createdAt: { type: 'string' },
            ...OWNER_FIELDS,
            providerId: { type: 'string' },
            stats: STATS,
          },
        },
      },
      next: { type: 'string', nullable: true },
    },
  },
} as const;

export const checkpointShowResponse = {
  200: { ...OPEN, properties: { checkpoint: CHECKPOINT, operation: PROTECT_LOG } },
} as const;
