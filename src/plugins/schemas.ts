/** Schemas several built-in plugins share. */
import type { JsonSchema } from './sdk.js';

/** A resource whose only field is `path` (the plugins default it to the resource id). */
export const pathResourceSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: { path: { type: 'string', minLength: 1 } },
};

/** Restore parameters of a type with a `target` (a path): `overwrite` allows replacing what is there. */
export const targetRestoreSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['target'],
  properties: {
    target: { type: 'string', minLength: 1 },
    overwrite: { type: 'boolean' },
  },
};
