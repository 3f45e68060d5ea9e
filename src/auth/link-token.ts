import { createHash, randomBytes } from 'node:crypto';

/** The links sent by mail, each a kind of link token (stored as link_tokens.kind). */
export const LINK_KINDS = {
  emailVerification: 'email_verification',
  passwordReset: 'password_reset',
  emailChange: 'email_change',
} as const;
export type LinkKind = (typeof LINK_KINDS)[keyof typeof LINK_KINDS];

/** Prefix that tells a link token apart at a glance (and to secret scanners). */
const PREFIX = 'gh_lt_';
const SHAPE = /^gh_lt_[A-Za-z0-9_-]{43}$/;

/** A new link token: 256 bits from the CSPRNG. */
export function generateLinkToken(): string {
  return PREFIX + randomBytes(32).toString('base64url');
}

/** True for strings that can be link tokens; anything else is refused without a database look-up. */
export function looksLikeLinkToken(token: string): boolean {
  return SHAPE.test(token);
}

/** What the database stores instead of the token: SHA-256, as for refresh tokens (256 bits need no salt). */
export function hashLinkToken(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}
