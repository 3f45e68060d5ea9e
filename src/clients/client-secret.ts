import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A client secret: this prefix (so that scanners and people recognise one) and 256 random bits. */
export const CLIENT_SECRET_PREFIX = 'gh_cs_';
const SECRET_SHAPE = /^gh_cs_[A-Za-z0-9_-]{43}$/;

export function newClientSecret(): string {
  return CLIENT_SECRET_PREFIX + randomBytes(32).toString('base64url');
}

/**
 * SHA-256 of the secret: with 256 random bits, no slow hash is needed — nobody can search that
 * space — and a stolen database yields no usable secret.
 */
export function hashClientSecret(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

/** A hash no secret has, compared against when the client is unknown: every path does the same work. */
const NO_CLIENT = hashClientSecret('no client has this secret');

/**
 * Whether `secret` is the one whose hash is `expected`, compared in constant time (undefined
 * `expected`: no such client — the comparison still runs, and fails).
 */
export function clientSecretMatches(secret: string, expected: Buffer | undefined): boolean {
  const presented = hashClientSecret(secret);
  const equal = timingSafeEqual(presented, expected ?? NO_CLIENT);
  return equal && expected !== undefined && SECRET_SHAPE.test(secret);
}
