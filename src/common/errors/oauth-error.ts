import type { ErrorBody, ErrorCode } from './error-codes.js';

/**
 * Under /oauth/ errors take RFC 6749 §5.2's shape, `{ error, error_description }`, which OAuth
 * client libraries read — not the service's. The service's codes map onto OAuth's; the status stays.
 */
export const OAUTH_PATH_PREFIX = '/oauth/';

/** The `error` of an OAuth error body for each service code that can occur under /oauth/. */
const OAUTH_ERROR_BY_CODE: Partial<Record<ErrorCode, string>> = {
  validation_failed: 'invalid_request',
  payload_too_large: 'invalid_request',
  unsupported_media_type: 'invalid_request',
  invalid_request: 'invalid_request',
  unsupported_grant_type: 'unsupported_grant_type',
  invalid_scope: 'invalid_scope',
  invalid_client: 'invalid_client',
  insufficient_scope: 'insufficient_scope',
  not_found: 'not_found',
  too_many_requests: 'too_many_requests',
  unavailable: 'temporarily_unavailable',
  internal_error: 'server_error',
};

/** Every `error` an /oauth/ answer can carry. */
export const OAUTH_ERRORS = [...new Set(Object.values(OAUTH_ERROR_BY_CODE))];

export interface OAuthErrorBody {
  error: string;
  error_description: string;
}

export function oauthErrorOf(code: ErrorCode): string {
  return OAUTH_ERROR_BY_CODE[code] ?? 'invalid_request';
}

/** Whether a request's errors take the OAuth shape: its path is under /oauth/. */
export function isOAuthPath(url: string): boolean {
  return url.startsWith(OAUTH_PATH_PREFIX);
}

/** The OAuth shape of an error body. */
export function toOAuthErrorBody(body: ErrorBody): OAuthErrorBody {
  return { error: oauthErrorOf(body.code), error_description: body.message };
}
