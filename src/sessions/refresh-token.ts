import { createHash, randomBytes } from 'node:crypto';

/** Prefix that tells a refresh token apart at a glance (and to secret scanners). */
const PREFIX = 'gh_rt_';
const SHAPE = /^gh_rt_[A-Za-z0-9_-]{43}$/;

/** A new opaque refresh token: 256 bits from the CSPRNG. */
export function generateRefreshToken(): string {
  return PREFIX + randomBytes(32).toString('base64url');
}

/** True for strings that can be refresh tokens; anything else is refused without a database look-up. */
export function looksLikeRefreshToken(token: string): boolean {
  return SHAPE.test(token);
}

/**
 * What the database stores instead of the token. SHA-256 without salt is
 * right here: the token has 256 bits of entropy, so no dictionary applies,
 * and a deterministic hash can be looked up by index.
 */
export function hashRefreshToken(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}
