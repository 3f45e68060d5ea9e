import type { KeyObject } from 'node:crypto';

import { CompactSign, type CompactJWSHeaderParameters } from 'jose';

import type { AccessTokenClaims } from '../../src/keys/access-token.js';
import type { SigningKeyMaterial } from '../../src/keys/signing-key.js';

export const ISSUER = 'https://auth.gatehouse.test';
export const AUDIENCE = 'gatehouse-api';
/** A fixed clock: 2030-01-01T00:00:00Z, in ms. */
export const NOW_MS = Date.UTC(2030, 0, 1);
export const NOW_S = NOW_MS / 1000;

export function claimsFor(overrides: Partial<AccessTokenClaims> = {}): AccessTokenClaims {
  return {
    iss: ISSUER,
    aud: AUDIENCE,
    sub: 'user-123',
    sid: 'session-456',
    roles: ['user'],
    iat: NOW_S,
    exp: NOW_S + 900,
    jti: 'jti-789',
    ...overrides,
  };
}

export function b64url(value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value), 'utf8').toString('base64url');
}

export function decodeSegment(segment: string | undefined): unknown {
  return JSON.parse(Buffer.from(segment ?? '', 'base64url').toString('utf8'));
}

/**
 * Signs an arbitrary header and payload with jose (an independent implementation), so tests can
 * craft tokens our own signer would never produce.
 */
export async function joseSign(
  key: KeyObject | Uint8Array,
  header: CompactJWSHeaderParameters,
  payload: Record<string, unknown>,
  crit?: Record<string, boolean>,
): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader(header)
    .sign(key, crit ? { crit } : undefined);
}

/** A header identical to what our signer emits. */
export function realHeader(key: SigningKeyMaterial): CompactJWSHeaderParameters {
  return { alg: key.alg, typ: 'at+jwt', kid: key.kid };
}
