/**
 * One error body for every failure the API reports: `{error: {code, message, details?}}`.
 * A HoardError's status comes from its code's entry in ERRORS (errors.ts); a caller's
 * mistake is a 4xx naming the field; only Hoard's own faults are 500, and their stack goes
 * to the server log, never into the body.
 */
import type { FastifyError } from 'fastify';
import { type ErrorCode, type ErrorInfo, errorSpec, HoardError } from '../errors.js';

export type ApiErrorCode =
  | 'REQUEST_INVALID'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'BODY_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'INTERNAL';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ApiErrorCode | ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const notFound = (what: string) => new ApiError(404, 'NOT_FOUND', `${what} not found`);

export interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

/** Status and body for anything thrown by a handler or by Fastify itself. */
export function errorReply(error: unknown): { status: number; body: ErrorBody; internal: boolean } {
  if (error instanceof ApiError) return reply(error.status, error.code, error.message, error.details);
  if (error instanceof HoardError) {
    const status = errorSpec(error.code).http;
    if (status !== 500) return reply(status, error.code, error.message, error.details);
  }
  const fastify = error as FastifyError & { validation?: ValidationIssue[]; validationContext?: string };
  if (fastify?.validation) {
    const errors = fastify.validation.map((v) => describeIssue(fastify.validationContext ?? 'request', v));
    return reply(400, 'REQUEST_INVALID', errors.map((e) => e.message).join('; '), { errors });
  }
  const status = typeof fastify?.statusCode === 'number' ? fastify.statusCode : 500;
  if (status === 413) return reply(413, 'BODY_TOO_LARGE', 'request body is larger than 1 MiB');
  if (status === 415)
    return reply(
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      `${fastify.message}; send JSON with content-type: application/json`,
    );
  if (status >= 400 && status < 500) return reply(status, 'REQUEST_INVALID', fastify.message);
  return { ...reply(500, 'INTERNAL', 'internal error; the server log has the details'), internal: true };
}

function reply(status: number, code: string, message: string, details?: Record<string, unknown>) {
  return {
    status,
    body: { error: { code, message, ...(details ? { details } : {}) } },
    internal: false,
  };
}

interface ValidationIssue {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

function describeIssue(context: string, issue: ValidationIssue): { path: string; message: string } {
  const path = `${context}${issue.instancePath}`;
  if (issue.keyword === 'additionalProperties')
    return { path, message: `${path} has an unknown field "${String(issue.params.additionalProperty)}"` };
  if (issue.keyword === 'required')
    return { path, message: `${path} is missing the field "${String(issue.params.missingProperty)}"` };
  if (issue.keyword === 'enum')
    return {
      path,
      message: `${path} must be one of ${(issue.params.allowedValues as unknown[]).map(String).join(', ')}`,
    };
  return { path, message: `${path} ${issue.message ?? 'is invalid'}` };
}

/** ErrorInfo as the API shows it: no stacks, anywhere in the cause chain. */
export function publicError(info: ErrorInfo): ErrorInfo {
  const { stack: _stack, cause, ...rest } = info;
  return cause ? { ...rest, cause: publicError(cause) } : rest;
}

/** Removes every `stack` field from a JSON-like value (operation results hold ErrorInfos). */
export function withoutStacks<T>(value: T): T {
  return JSON.parse(JSON.stringify(value, (key, v) => (key === 'stack' ? undefined : v))) as T;
}
