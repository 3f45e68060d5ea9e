/**
 * Every security event, named once. A name is both the audit log's `type`
 * (part of the HTTP contract: never rename one) and the `event` label of the
 * `gatehouse_auth_events_total` metric.
 * - `audited`: written to the audit log, in the transaction of the change.
 * - `counted`: counted in the metric, from the outcome of the request.
 * The two differ on purpose: a refresh is routine (counted, not audited), and
 * every 429 counts as `throttled` while only a throttled signin is audited,
 * once per email, client and SIGNIN_FAILURE_WINDOW.
 */
export const SECURITY_EVENTS = {
  signup: { audited: true, counted: true },
  signin_succeeded: { audited: true, counted: true },
  signin_failed: { audited: true, counted: true },
  throttled: { audited: true, counted: true },
  refresh: { audited: false, counted: true },
  // A cookie-mode request from an untrusted origin (403 csrf_rejected): refused before any change.
  csrf_rejected: { audited: false, counted: true },
  refresh_token_reused: { audited: true, counted: true },
  signout: { audited: true, counted: false },
  signout_all: { audited: true, counted: false },
  session_revoked: { audited: true, counted: false },
  password_changed: { audited: true, counted: false },
  roles_changed: { audited: true, counted: false },
  user_disabled: { audited: true, counted: false },
  user_enabled: { audited: true, counted: false },
  user_deleted: { audited: true, counted: false },
  signing_key_rotated: { audited: true, counted: false },
  signing_key_revoked: { audited: true, counted: false },
  // Multi-factor authentication. A challenge is a password step that asked for the second factor.
  mfa_enabled: { audited: true, counted: true },
  mfa_disabled: { audited: true, counted: true },
  mfa_reset: { audited: true, counted: true },
  mfa_challenge: { audited: true, counted: true },
  mfa_challenge_failed: { audited: true, counted: true },
  recovery_code_used: { audited: true, counted: true },
  recovery_codes_regenerated: { audited: true, counted: false },
  email_verification_sent: { audited: true, counted: false },
  email_verified: { audited: true, counted: false },
  password_reset_requested: { audited: true, counted: false },
  password_reset: { audited: true, counted: false },
  email_change_requested: { audited: true, counted: false },
  email_changed: { audited: true, counted: false },
} as const satisfies Record<string, { audited: boolean; counted: boolean }>;

type Events = typeof SECURITY_EVENTS;
export type SecurityEvent = keyof Events;

/** The `type` of an audit event. */
export type AuditEventType = {
  [E in SecurityEvent]: Events[E]['audited'] extends true ? E : never;
}[SecurityEvent];
/** An `event` label of `gatehouse_auth_events_total`. */
export type CountedEvent = {
  [E in SecurityEvent]: Events[E]['counted'] extends true ? E : never;
}[SecurityEvent];

const names = Object.keys(SECURITY_EVENTS) as SecurityEvent[];
export const AUDIT_EVENT_TYPES = names.filter((event) => SECURITY_EVENTS[event].audited) as AuditEventType[];
export const COUNTED_EVENTS = names.filter((event) => SECURITY_EVENTS[event].counted) as CountedEvent[];
