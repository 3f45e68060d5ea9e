import { HttpException } from '@nestjs/common';

/** The refusals of the guard, with Gatehouse's error codes. */
export type GatehouseErrorCode =
  'missing_token' | 'invalid_token' | 'token_expired' | 'session_revoked' | 'forbidden' | 'unavailable';

const STATUS: Record<GatehouseErrorCode, [number, string]> = {
  missing_token: [401, 'Unauthorized'],
  invalid_token: [401, 'Unauthorized'],
  token_expired: [401, 'Unauthorized'],
  session_revoked: [401, 'Unauthorized'],
  forbidden: [403, 'Forbidden'],
  unavailable: [503, 'Service Unavailable'],
};

/**
 * An HTTP error in Gatehouse's shape, `{ statusCode, error, code, message }`,
 * so that a client handles a resource server's refusals as it handles Gatehouse's.
 */
export class GatehouseError extends HttpException {
  constructor(
    readonly code: GatehouseErrorCode,
    message: string,
  ) {
    const [statusCode, error] = STATUS[code];
    super({ statusCode, error, code, message }, statusCode);
  }
}
