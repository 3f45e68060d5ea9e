import { HttpException, HttpStatus } from '@nestjs/common';
import { ApiError } from './api-error.js';
import type { ErrorBody, ErrorCode } from './error-codes.js';

/** The code an error gets when nothing more specific is known, by status. */
const CODE_BY_STATUS: Partial<Record<number, ErrorCode>> = {
  400: 'validation_failed',
  401: 'invalid_token',
  403: 'forbidden',
  404: 'not_found',
  405: 'not_found',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'too_many_requests',
  503: 'unavailable',
};

const MESSAGE_BY_CODE: Partial<Record<ErrorCode, string>> = {
  not_found: 'Not found',
  payload_too_large: 'Request body is too large',
  unsupported_media_type: 'Request body must be JSON (Content-Type: application/json)',
  internal_error: 'Internal server error',
  unavailable: 'Service temporarily unavailable',
};

/** Fastify's own errors (raised while reading a body, before any handler runs). */
const FASTIFY_ERRORS: Record<string, { code: ErrorCode; message: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'payload_too_large', message: 'Request body is too large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    code: 'unsupported_media_type',
    message: 'Request body must be JSON (Content-Type: application/json)',
  },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'validation_failed', message: 'Invalid Content-Length' },
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'validation_failed', message: 'Malformed JSON body' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'validation_failed', message: 'Malformed JSON body' },
  // Raised by the router (FastifyAdapter's frameworkErrors), before any route is chosen.
  FST_ERR_BAD_URL: { code: 'validation_failed', message: 'Malformed URL' },
  FST_ERR_MAX_PARAM_LENGTH: { code: 'validation_failed', message: 'Path parameter is too long' },
};

/**
 * A database failure that will pass — the database refuses connections, is
 * read-only, locked, restarting or overloaded: answered 503 `unavailable`
 * with Retry-After. The database layer classifies its errors
 * (database/postgres-errors.ts) and the application hands that
 * classification to the filter (common/ sits below database/).
 */
export interface DatabaseUnavailable {
  /** Why, in a word (`read_only`, `lock_timeout`, …): a metric label. */
  readonly class: string;
  /** The SQLSTATE, when the server gave one. */
  readonly sqlstate?: string;
}

/** Tells whether an error means "the database cannot serve this now"; undefined for any other error. */
export type DatabaseErrorClassifier = (error: unknown) => DatabaseUnavailable | undefined;

/** How long a client is told to wait before retrying a request the database could not serve. */
const DATABASE_RETRY_AFTER_SECONDS = '5';

export interface ErrorResponse {
  body: ErrorBody;
  headers: Record<string, string>;
  /** True for failures the client did not cause: log them with their detail. */
  unexpected: boolean;
  /** Set when the database could not serve the request (503). */
  databaseUnavailable?: DatabaseUnavailable;
}

/**
 * Maps anything thrown while serving a request to the contract's error
 * shape; `classifyDatabaseError` recognises the database's passing failures.
 */
export function toErrorResponse(
  error: unknown,
  classifyDatabaseError: DatabaseErrorClassifier = () => undefined,
): ErrorResponse {
  if (error instanceof ApiError) {
    return respond(error.getStatus(), error.code, error.message, error.headers, error.fieldErrors);
  }
  if (error instanceof HttpException) {
    const status = error.getStatus();
    const code = CODE_BY_STATUS[status];
    if (code) return respond(status, code, MESSAGE_BY_CODE[code] ?? firstMessage(error), {});
    return unexpected();
  }
  const fastifyCode = (error as { code?: unknown } | null)?.code;
  if (typeof fastifyCode === 'string' && fastifyCode in FASTIFY_ERRORS) {
    const known = FASTIFY_ERRORS[fastifyCode]!;
    return respond(statusOf(known.code), known.code, known.message, {});
  }
  if (error instanceof SyntaxError && (error as { statusCode?: number }).statusCode === 400) {
    return respond(400, 'validation_failed', 'Malformed JSON body', {});
  }
  const databaseUnavailable = classifyDatabaseError(error);
  if (databaseUnavailable) {
    return {
      ...respond(503, 'unavailable', MESSAGE_BY_CODE.unavailable!, {
        'Retry-After': DATABASE_RETRY_AFTER_SECONDS,
      }),
      unexpected: true,
      databaseUnavailable,
    };
  }
  return unexpected();
}

function unexpected(): ErrorResponse {
  return { ...respond(500, 'internal_error', MESSAGE_BY_CODE.internal_error!, {}), unexpected: true };
}

function respond(
  status: number,
  code: ErrorCode,
  message: string,
  headers: Record<string, string> | undefined,
  errors?: ErrorBody['errors'],
): ErrorResponse {
  const body: ErrorBody = { statusCode: status, error: reasonPhrase(status), code, message };
  if (errors) body.errors = errors;
  const challenge: Record<string, string> =
    status === 401 ? { 'WWW-Authenticate': bearerChallenge(code, message) } : {};
  return { body, headers: { ...challenge, ...headers }, unexpected: false };
}

/** The 401s that refuse a token the caller presented (an access token, a refresh token or its cookie). */
const PRESENTED_TOKEN_REFUSED: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'invalid_token',
  'token_expired',
  'session_revoked',
  'invalid_refresh_token',
  'refresh_token_reused',
]);

/**
 * RFC 6750's challenge of a 401: `Bearer realm="gatehouse"`, with `error="invalid_token"` and a
 * description (the error's message: fixed text, never the token) when a token was presented and
 * refused. Without a token (none sent; a password or an MFA code refused) there is no error code.
 */
export function bearerChallenge(code: ErrorCode, message: string): string {
  if (!PRESENTED_TOKEN_REFUSED.has(code)) return 'Bearer realm="gatehouse"';
  // RFC 6750's error_description characters only: printable ASCII but `"` and `\`.
  const description = message.replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, '');
  return `Bearer realm="gatehouse", error="invalid_token", error_description="${description}"`;
}

function statusOf(code: ErrorCode): number {
  return { payload_too_large: 413, unsupported_media_type: 415 }[code as string] ?? 400;
}

function firstMessage(error: HttpException): string {
  const response = error.getResponse();
  if (typeof response === 'string') return response;
  const message = (response as { message?: unknown }).message;
  if (typeof message === 'string') return message;
  if (Array.isArray(message) && typeof message[0] === 'string') return message[0];
  return error.message;
}

/** "Not Found", "Unauthorized", … from the status code, as NestJS writes them. */
export function reasonPhrase(status: number): string {
  const name = HttpStatus[status];
  if (!name) return 'Error';
  if (status === 413) return 'Payload Too Large';
  return name
    .toLowerCase()
    .split('_')
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join(' ');
}
