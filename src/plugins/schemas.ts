/** Schemas several built-in plugins share, in TypeBox so that their parameters are typed. */
import { Type } from './typebox-lite.js';

/** A resource whose only field is `path` (the plugins default it to the resource id). */
export const pathResourceSchema = Type.Object(
  { path: Type.Optional(Type.String({ minLength: 1 })) },
  { additionalProperties: false },
);

/** Restore parameters of a type with a `target` (a path): `overwrite` allows replacing what is there. */
export const targetRestoreSchema = Type.Object(
  { target: Type.String({ minLength: 1 }), overwrite: Type.Optional(Type.Boolean()) },
  { additionalProperties: false },
);

/** Parameters of an operation that takes none. */
export const noParametersSchema = Type.Object({}, { additionalProperties: false });
