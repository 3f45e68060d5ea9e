/** Every machine-readable error code of the contract, with the HTTP status it travels with. */
export const ERROR_STATUS = {
  validation_failed: 400,
  invalid_link_token: 400,
  missing_token: 401,
  invalid_token: 401,
  token_expired: 401,
  session_revoked: 401,
  invalid_credentials: 401,
  invalid_refresh_token: 401,
  refresh_token_reused: 401,
  invalid_mfa_code: 401,
  invalid_mfa_token: 401,
  forbidden: 403,
  account_disabled: 403,
  email_not_verified: 403,
  csrf_rejected: 403,
  not_found: 404,
  email_taken: 409,
  last_admin: 409,
  rotation_pending: 409,
  mfa_already_enabled: 409,
  mfa_not_enabled: 409,
  mfa_not_pending: 409,
  already_verified: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  too_many_requests: 429,
  internal_error: 500,
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** One entry of a validation failure's `errors` array. */
export interface FieldError {
  field: string;
  message: string;
}

/** The body of every error response. */
export interface ErrorBody {
  statusCode: number;
  error: string;
  code: ErrorCode;
  message: string;
  errors?: FieldError[];
}
