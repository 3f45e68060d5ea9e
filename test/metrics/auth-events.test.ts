import { describe, expect, it } from 'vitest';
import { authEventFor, authEventsFor } from '../../src/metrics/auth-events.js';
import { methodLabel, routeLabel } from '../../src/metrics/http-labels.js';

describe('authEventFor', () => {
  it.each([
    ['POST', '/auth/signup', 201, undefined, 'signup'],
    ['POST', '/auth/signin', 200, undefined, 'signin_succeeded'],
    ['POST', '/auth/signin', 401, 'invalid_credentials', 'signin_failed'],
    ['POST', '/auth/signin', 403, 'account_disabled', 'signin_failed'],
    ['POST', '/auth/refresh', 200, undefined, 'refresh'],
    ['POST', '/auth/refresh', 401, 'refresh_token_reused', 'refresh_token_reused'],
    ['GET', '/users/me', 401, 'refresh_token_reused', 'refresh_token_reused'],
    ['POST', '/auth/signin', 429, 'too_many_requests', 'throttled'],
    ['POST', '/auth/signup', 429, 'too_many_requests', 'throttled'],
    ['GET', '/users/me', 429, undefined, 'throttled'],
    ['GET', 'unmatched', 429, undefined, 'throttled'],
    ['POST', '/auth/signin/mfa', 200, undefined, 'signin_succeeded'],
    ['POST', '/auth/signin/mfa', 401, 'invalid_mfa_code', 'mfa_challenge_failed'],
    ['POST', '/auth/signin/mfa', 401, 'invalid_mfa_token', 'mfa_challenge_failed'],
    ['DELETE', '/auth/mfa/totp', 401, 'invalid_mfa_code', 'mfa_challenge_failed'],
    ['POST', '/auth/mfa/recovery-codes', 401, 'invalid_mfa_code', 'mfa_challenge_failed'],
    ['POST', '/auth/mfa/totp/confirm', 200, undefined, 'mfa_enabled'],
    ['DELETE', '/auth/mfa/totp', 204, undefined, 'mfa_disabled'],
    ['DELETE', '/users/:id/mfa', 204, undefined, 'mfa_reset'],
  ] as const)('%s %s %i %s → %s', (method, route, status, code, event) => {
    expect(authEventFor(method, route, status, code)).toBe(event);
  });

  it.each([
    ['POST', '/auth/signup', 400, 'validation_failed'],
    ['POST', '/auth/signup', 409, 'email_taken'],
    ['POST', '/auth/signup', 200, undefined],
    ['POST', '/auth/signin', 400, 'validation_failed'],
    ['POST', '/auth/signin', 401, 'invalid_token'],
    ['POST', '/auth/signin', 403, 'forbidden'],
    ['POST', '/auth/signin', 500, 'internal_error'],
    ['POST', '/auth/signin', 503, 'unavailable'],
    ['POST', '/auth/refresh', 401, 'invalid_refresh_token'],
    ['POST', '/auth/refresh', 400, 'validation_failed'],
    ['POST', '/auth/signout', 204, undefined],
    ['GET', '/auth/signin', 200, undefined],
    ['HEAD', '/auth/refresh', 200, undefined],
    ['POST', 'unmatched', 201, undefined],
    ['GET', '/users/me', 200, undefined],
    ['POST', '/auth/mfa/totp', 200, undefined],
    ['POST', '/auth/mfa/totp/confirm', 409, 'mfa_already_enabled'],
    ['DELETE', '/auth/mfa/totp', 409, 'mfa_not_enabled'],
    ['DELETE', '/users/:id/mfa', 409, 'mfa_not_enabled'],
    ['DELETE', '/users/:id', 204, undefined],
  ] as const)('%s %s %i %s → nothing', (method, route, status, code) => {
    expect(authEventFor(method, route, status, code)).toBeUndefined();
  });

  it('adds the events the handler noted; a password step that asked for MFA is a challenge, not a signin', () => {
    expect(authEventsFor('POST', '/auth/signin', 200, undefined, ['mfa_challenge'])).toEqual([
      'mfa_challenge',
    ]);
    expect(authEventsFor('POST', '/auth/signin', 200, undefined)).toEqual(['signin_succeeded']);
    expect(authEventsFor('POST', '/auth/signin/mfa', 200, undefined, ['recovery_code_used'])).toEqual([
      'signin_succeeded',
      'recovery_code_used',
    ]);
    expect(authEventsFor('DELETE', '/auth/mfa/totp', 204, undefined, ['recovery_code_used'])).toEqual([
      'mfa_disabled',
      'recovery_code_used',
    ]);
    expect(authEventsFor('GET', '/users/me', 200, undefined)).toEqual([]);
  });
});

describe('labels', () => {
  it('labels a request by its route pattern, or one label when no route matched', () => {
    expect(routeLabel('/auth/sessions/:id')).toBe('/auth/sessions/:id');
    expect(routeLabel(undefined)).toBe('unmatched');
    expect(routeLabel('')).toBe('unmatched');
  });

  it('keeps the usual methods and folds the rest into OTHER', () => {
    for (const method of ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
      expect(methodLabel(method)).toBe(method);
    }
    expect(methodLabel('PROPFIND')).toBe('OTHER');
    expect(methodLabel('X'.repeat(40))).toBe('OTHER');
  });
});
