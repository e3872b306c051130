/**
 * TypeBox (the plugin schemas' builder), loaded through its CommonJS build. Its ES module
 * build is 266 files, which Node's ES module loader opens all at once: under a small limit of
 * open files (the tests run a restore under `ulimit -n 90`) that fails with EMFILE, where
 * `require` opens them one after the other. Types come from the package as usual.
 */
import { createRequire } from 'node:module';
import type * as TypeBox from '@sinclair/typebox';

export type { Static, TSchema } from '@sinclair/typebox';
export const { Type } = createRequire(import.meta.url)('@sinclair/typebox') as typeof TypeBox;
