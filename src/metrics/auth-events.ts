/** The auth events counted in `gatehouse_auth_events_total{event="…"}`. */
export const AUTH_EVENTS = [
  'signup',
  'signin_ok',
  'signin_failed',
  'refresh',
  'refresh_reuse_detected',
  'throttled',
] as const;

export type AuthEvent = (typeof AUTH_EVENTS)[number];

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
): AuthEvent | undefined {
  if (status === 429) return 'throttled';
  if (status === 401 && code === 'refresh_token_reused') return 'refresh_reuse_detected';
  if (method !== 'POST') return undefined;
  switch (route) {
    case '/auth/signup':
      return status === 201 ? 'signup' : undefined;
    case '/auth/signin':
      if (status === 200) return 'signin_ok';
      if (
        (status === 401 && code === 'invalid_credentials') ||
        (status === 403 && code === 'account_disabled')
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
