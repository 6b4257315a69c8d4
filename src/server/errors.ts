// The service's one catalog of coded errors: each code's HTTP status, and the mapping of Fastify, multipart and image errors onto it.

import type { FastifyReply, FastifyRequest } from 'fastify';
import './http/route-flags.js';
import { ImageError } from '../image/decode.js';
import { CodedError } from '../util/errors.js';

export const ERRORS = {
  BAD_REQUEST: 400,
  NO_IMAGE: 400,
  EMPTY_IMAGE: 400,
  NOT_AN_IMAGE: 400,
  CORRUPT_IMAGE: 400,
  BAD_MULTIPART: 400,
  BAD_TENSOR: 400,
  RESPONSE_TOO_LARGE: 400,
  MODEL_REQUIRED: 400,
  NOT_AN_IMAGE_MODEL: 400,
  MODEL_CONTROL_DISABLED: 400,
  MODEL_LOAD_FAILED: 400,
  UNKNOWN_LABEL: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  MODEL_NOT_FOUND: 404,
  NOT_FOUND: 404,
  FEEDBACK_OFF: 404,
  IMAGE_NOT_RECENT: 404,
  NOT_ACCEPTABLE: 406,
  REQUEST_TIMEOUT: 408,
  CONFLICT: 409,
  UNSUPPORTED_MEDIA_TYPE: 415,
  UNSUPPORTED_FORMAT: 415,
  PAYLOAD_TOO_LARGE: 413,
  TOO_MANY_PIXELS: 413,
  TOO_MANY_FILES: 413,
  TOO_MANY_IMAGES: 413,
  RATE_LIMITED: 429,
  HEADERS_TOO_LARGE: 431,
  INTERNAL: 500,
  OVERLOADED: 503,
  NOT_READY: 503,
  SHUTTING_DOWN: 503,
  MODEL_UNAVAILABLE: 503,
  FEEDBACK_FULL: 507,
} as const satisfies Record<string, number>;

export type ErrorCode = keyof typeof ERRORS;

/** The JSON body of every error response. */
export interface ErrorBody {
  statusCode: number;
  code: ErrorCode;
  error: string;
  message: string;
}

export const errorSchema = {
  $id: 'Error',
  type: 'object',
  description: 'Every error response',
  required: ['statusCode', 'code', 'error', 'message'],
  properties: {
    statusCode: { type: 'integer', examples: [400] },
    code: { type: 'string', enum: Object.keys(ERRORS), examples: ['NOT_AN_IMAGE'] },
    error: { type: 'string', description: 'HTTP reason phrase', examples: ['Bad Request'] },
    message: { type: 'string', examples: ['"cat.txt" is not an image in a supported format'] },
  },
} as const;

/** Seconds a client should wait after OVERLOADED, NOT_READY or SHUTTING_DOWN. */
export const RETRY_AFTER_S = 1;

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  406: 'Not Acceptable',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
  507: 'Insufficient Storage',
};

/** Codes answered with Retry-After (the condition passes by itself) unless the error says otherwise. */
const RETRY_CODES: ReadonlySet<ErrorCode> = new Set(['OVERLOADED', 'NOT_READY', 'SHUTTING_DOWN', 'MODEL_UNAVAILABLE']);

/** A catalogued service error: `code` decides the HTTP status; 4xx are the client's fault, 5xx the service's. */
export class ServiceError extends CodedError {
  declare readonly code: ErrorCode;
  readonly statusCode: number;
  /**
   * Worth retrying as it is: answered with Retry-After (gRPC UNAVAILABLE). False for a 503 that lasts until someone acts,
   * e.g. MODEL_UNAVAILABLE for a model that failed to load (no Retry-After; gRPC FAILED_PRECONDITION).
   */
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; retryable?: boolean }) {
    super(code, message, options);
    this.statusCode = ERRORS[code];
    this.retryable = options?.retryable ?? RETRY_CODES.has(code);
  }

  override get userFault(): boolean {
    return this.statusCode < 500;
  }
}

/** Longest piece of client input echoed back in an error message. */
export const ECHO_MAX = 64;

/** Client text cut to `max` characters, saying how long it was. */
export function clip(s: string, max = ECHO_MAX): string {
  return s.length > max ? `${s.slice(0, max)}…(${s.length} chars)` : s;
}

/** A client-supplied value as it may appear in a message: strings JSON-quoted, everything cut to ECHO_MAX characters. */
export function echo(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(clip(v));
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = Object.prototype.toString.call(v);
  }
  return clip(s);
}

/**
 * The JSON error body every route answers with: status, catalogued code, reason phrase and message. On v2 routes
 * (`triton`), `error` carries the message instead of the reason phrase: Triton clients show only that field.
 */
export function errorBody(code: ErrorCode, message: string, triton = false): ErrorBody {
  const statusCode = ERRORS[code];
  return { statusCode, code, error: triton ? message : (REASONS[statusCode] ?? 'Error'), message };
}

/** errorBody in the form of `req`'s route (config.triton: the v2 form). */
export function errorBodyFor(req: FastifyRequest, code: ErrorCode, message: string): ErrorBody {
  return errorBody(code, message, req.routeOptions.config?.triton === true);
}

/** Fastify core and @fastify/multipart error codes → ours. */
const FASTIFY_ERROR_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_EMPTY_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'BAD_REQUEST',
  FST_ERR_CTP_INVALID_JSON_BODY: 'BAD_REQUEST',
  FST_ERR_VALIDATION: 'BAD_REQUEST',
  FST_REQ_FILE_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_FILES_LIMIT: 'TOO_MANY_FILES',
  FST_PARTS_LIMIT: 'TOO_MANY_FILES',
  FST_FIELDS_LIMIT: 'TOO_MANY_FILES',
  FST_PROTO_VIOLATION: 'BAD_MULTIPART',
  FST_INVALID_MULTIPART_CONTENT_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_INVALID_JSON_FIELD_ERROR: 'BAD_MULTIPART',
};

/** Any thrown value → a catalogued error. Unknown 4xx keep their status as BAD_REQUEST-like; anything else is INTERNAL. */
export function toServiceError(e: unknown): ServiceError {
  if (e instanceof ServiceError) return e;
  if (e instanceof ImageError) return new ServiceError(e.code, e.message, { cause: e });
  const err = e as Error & { code?: unknown; statusCode?: unknown; validation?: unknown };
  const mapped = typeof err.code === 'string' ? FASTIFY_ERROR_CODES[err.code] : undefined;
  if (err.validation) return new ServiceError('BAD_REQUEST', err.message, { cause: e });
  if (mapped) return new ServiceError(mapped, messageFor(mapped, err.message), { cause: e });
  const status = typeof err.statusCode === 'number' ? err.statusCode : 0;
  if (status === 413) return new ServiceError('PAYLOAD_TOO_LARGE', err.message, { cause: e });
  if (status === 415) return new ServiceError('UNSUPPORTED_MEDIA_TYPE', err.message, { cause: e });
  if (status === 406) return new ServiceError('NOT_ACCEPTABLE', err.message, { cause: e });
  if (status === 404) return new ServiceError('NOT_FOUND', err.message, { cause: e });
  if (status >= 400 && status < 500) return new ServiceError('BAD_REQUEST', err.message, { cause: e });
  return new ServiceError('INTERNAL', 'internal error', { cause: e });
}

function messageFor(code: ErrorCode, original: string): string {
  switch (code) {
    case 'TOO_MANY_FILES':
      return 'too many parts in the multipart body (see MAX_FILES)';
    case 'PAYLOAD_TOO_LARGE':
      return `the body or a file is larger than the limit (see BODY_LIMIT): ${original}`;
    case 'UNSUPPORTED_MEDIA_TYPE':
      return original === 'Unsupported Media Type' ? 'unsupported Content-Type for this route' : original;
    default:
      return original;
  }
}

/** The one OVERLOADED error: `images` in flight against `limit` (MAX_QUEUE); clients retry after Retry-After. */
export function overloaded(images: number, limit: number): ServiceError {
  return new ServiceError(
    'OVERLOADED',
    `the service is full (${images} images in flight, limit ${limit}); retry shortly`,
  );
}

/** The message of the SHUTTING_DOWN answer (HTTP 503, gRPC UNAVAILABLE) once shutdown has started. */
export const SHUTTING_DOWN_MESSAGE = 'the service is shutting down';

/** Sends the 503 SHUTTING_DOWN every HTTP route answers once shutdown has started (clients retry after Retry-After). */
export function replyShuttingDown(reply: FastifyReply): FastifyReply {
  return reply
    .code(503)
    .header('retry-after', RETRY_AFTER_S)
    .send(errorBodyFor(reply.request, 'SHUTTING_DOWN', SHUTTING_DOWN_MESSAGE));
}
