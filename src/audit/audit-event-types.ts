/** Every kind of security event the audit log records. */
export const AUDIT_EVENT_TYPES = [
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
] as const;

export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];
