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
  if (status === 403 && code === 'csrf_rejected') return 'csrf_rejected';
  // A wrong second factor, wherever it is asked for (signin, disabling MFA, new recovery codes).
  if (status === 401 && (code === 'invalid_mfa_code' || code === 'invalid_mfa_token')) {
    return 'mfa_challenge_failed';
  }
  if (method === 'DELETE') {
    if (route === '/auth/mfa/totp') return status === 204 ? 'mfa_disabled' : undefined;
    if (route === '/users/:id/mfa') return status === 204 ? 'mfa_reset' : undefined;
    return undefined;
  }
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
    case '/auth/signin/mfa':
      return status === 200 ? 'signin_succeeded' : undefined;
    case '/auth/mfa/totp/confirm':
      return status === 200 ? 'mfa_enabled' : undefined;
    case '/auth/refresh':
      return status === 200 ? 'refresh' : undefined;
    default:
      return undefined;
  }
}

/**
 * Every auth event of a finished request: the one its outcome stands for, and those its handler
 * noted (ClientInfo.events). A password step that answered with an MFA challenge (noted
 * `mfa_challenge`) opened no session: its 200 is not a `signin_succeeded`.
 */
export function authEventsFor(
  method: string,
  route: string,
  status: number,
  code: string | undefined,
  noted: readonly CountedEvent[] = [],
): CountedEvent[] {
  const derived = authEventFor(method, route, status, code);
  if (derived === undefined || (derived === 'signin_succeeded' && noted.includes('mfa_challenge'))) {
    return [...noted];
  }
  return [derived, ...noted];
}
