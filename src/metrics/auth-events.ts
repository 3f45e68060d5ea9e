import type { CountedEvent } from '../common/security-events.js';

/**
 * The auth event a finished request stands for, read from its outcome alone
 * (method, route pattern, status and the error code the response carried),
 * so that counting needs nothing from the auth code itself.
 */
export function authEventFor(
  method: string,
  route: string,
  status: number,
  code: string | undefined,
): CountedEvent | undefined {
  if (status === 429) return 'throttled';
  if (status === 401 && code === 'refresh_token_reused') return 'refresh_token_reused';
  if (method !== 'POST') return undefined;
  switch (route) {
    case '/auth/signup':
      return status === 201 ? 'signup' : undefined;
    case '/auth/signin':
      if (status === 200) return 'signin_succeeded';
      if (
        (status === 401 && code === 'invalid_credentials') ||
        (status === 403 && (code === 'account_disabled' || code === 'email_not_verified'))
      ) {
        return 'signin_failed';
      }
      return undefined;
    case '/auth/refresh':
      return status === 200 ? 'refresh' : undefined;
    default:
      return undefined;
  }
}
