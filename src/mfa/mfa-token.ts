import { createHash, randomBytes } from 'node:crypto';

/** Prefix that tells an mfaToken apart (from refresh tokens, and for secret scanners). */
const PREFIX = 'gh_mfa_';
const SHAPE = /^gh_mfa_[A-Za-z0-9_-]{43}$/;

/** How long the second step of a signin may wait (the contract: 5 minutes). */
export const MFA_TOKEN_TTL_MS = 5 * 60_000;
/** Wrong codes an mfaToken survives (the contract: it dies after 5). */
export const MFA_TOKEN_MAX_FAILURES = 5;

/** A new mfaToken: 256 bits from the CSPRNG. */
export function generateMfaToken(): string {
  return PREFIX + randomBytes(32).toString('base64url');
}

export function looksLikeMfaToken(token: string): boolean {
  return SHAPE.test(token);
}

/** Stored instead of the token (256 bits of entropy: a plain SHA-256 suffices and can be indexed). */
export function hashMfaToken(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/** What a challenge keeps of the password hash its password step verified (not the hash itself). */
export function passwordFingerprint(passwordHash: string): Buffer {
  return createHash('sha256').update(passwordHash).digest();
}
