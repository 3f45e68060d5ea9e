import { describe, expect, it } from 'vitest';
import { AUDIT_EVENT_TYPES, COUNTED_EVENTS, SECURITY_EVENTS } from '../../src/common/security-events.js';

/** One vocabulary for the audit log and the metrics; the audit strings are part of the HTTP contract. */
describe('security events', () => {
  it('keeps the audit types of the contract, exactly', () => {
    expect([...AUDIT_EVENT_TYPES].sort()).toEqual(
      [
        'signup',
        'signin_succeeded',
        'signin_failed',
        'throttled',
        'refresh_token_reused',
        'signout',
        'signout_all',
        'session_revoked',
        'password_changed',
        'roles_changed',
        'user_disabled',
        'user_enabled',
        'user_deleted',
        'signing_key_rotated',
        'signing_key_revoked',
        'mfa_enabled',
        'mfa_disabled',
        'mfa_reset',
        'mfa_challenge',
        'mfa_challenge_failed',
        'recovery_code_used',
        'recovery_codes_regenerated',
        'email_verification_sent',
        'email_verified',
        'password_reset_requested',
        'password_reset',
        'email_change_requested',
        'email_changed',
        'client_created',
        'client_deleted',
      ].sort(),
    );
  });

  it('counts the events of the metric under the same names as the audit log', () => {
    expect([...COUNTED_EVENTS].sort()).toEqual(
      [
        'signup',
        'signin_succeeded',
        'signin_failed',
        'throttled',
        'refresh',
        'refresh_token_reused',
        'mfa_enabled',
        'mfa_disabled',
        'mfa_reset',
        'mfa_challenge',
        'mfa_challenge_failed',
        'recovery_code_used',
        'csrf_rejected',
        'client_token_issued',
        'client_authentication_failed',
      ].sort(),
    );
    // Counted without being audited: a refresh and a client token (routine, not changes), a CSRF
    // refusal and a failed client authentication (nothing changed, and no account to file them under).
    expect(COUNTED_EVENTS.filter((event) => !SECURITY_EVENTS[event].audited).sort()).toEqual(
      ['refresh', 'csrf_rejected', 'client_token_issued', 'client_authentication_failed'].sort(),
    );
  });

  it('names events as Prometheus label values and audit types can hold them', () => {
    for (const event of Object.keys(SECURITY_EVENTS)) expect(event).toMatch(/^[a-z][a-z_]{0,63}$/);
  });
});
