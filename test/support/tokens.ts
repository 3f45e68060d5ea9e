import { createHmac, sign } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { createLocalJWKSet, decodeProtectedHeader, type JSONWebKeySet } from 'jose';
import { expect } from 'vitest';
import type { DatabaseConnection } from '../../src/database/database.types.js';
import { SigningKeysService } from '../../src/keys/signing-keys.service.js';
import type { Http } from './http.js';
import type { TestApp } from './test-app.js';

/**
 * Environment for e2e tests that make many /auth requests from the one
 * injected client address: keeps the per-address and per-email throttles,
 * and the bound of the password-hashing queue (200 signups at once), out of
 * the way; they are tested elsewhere.
 */
export const NO_THROTTLE = {
  RATE_LIMIT_PER_MINUTE: '1000000',
  SIGNIN_MAX_FAILURES: '1000',
  PASSWORD_HASH_QUEUE: '100000',
} as const;

export const REFRESH_TOKEN_SHAPE = /^gh_rt_[A-Za-z0-9_-]{43}$/;
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const b64url = (value: unknown): string =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value), 'utf8').toString('base64url');

export interface JwtParts {
  header: Record<string, any>;
  payload: Record<string, any>;
  /** The three encoded segments, as found in the token. */
  segments: [string, string, string];
}

/** Splits a compact JWS without verifying anything. */
export function decodeJwt(token: string): JwtParts {
  const segments = token.split('.');
  expect(segments, 'a compact JWS has three segments').toHaveLength(3);
  const [h, p, s] = segments as [string, string, string];
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString('utf8')),
    payload: JSON.parse(Buffer.from(p, 'base64url').toString('utf8')),
    segments: [h, p, s],
  };
}

/** A compact JWS from a header, a payload and a signature segment (nothing is signed). */
export const assemble = (header: unknown, payload: unknown, signature = ''): string =>
  `${b64url(header)}.${b64url(payload)}.${signature}`;

/** An HS256 JWS whose HMAC key is `secret` (for algorithm-confusion attacks). */
export function signHs256(
  header: Record<string, unknown>,
  payload: unknown,
  secret: string | Buffer,
): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

/** The published JWK Set, asserted to be served. */
export async function fetchJwks(http: Http): Promise<{ keys: Record<string, any>[] }> {
  const reply = await http.get('/.well-known/jwks.json');
  expect(reply.status, reply.text).toBe(200);
  return reply.body;
}

export async function localJwks(http: Http) {
  const jwks: JSONWebKeySet = await fetchJwks(http);
  return createLocalJWKSet(jwks);
}

export const kidOf = (token: string): string | undefined => decodeProtectedHeader(token).kid;

/**
 * Signs an arbitrary header and payload with the service's own current
 * private key, taken from inside the test process. No client can do this: it
 * stands for "a token the service itself issued", to test the checks behind
 * the signature (expiry, issuer, audience, type, session binding).
 */
export function signWithServiceKey(
  t: TestApp,
  payload: Record<string, unknown>,
  header: Record<string, unknown> = {},
): string {
  const key = t.app.get(SigningKeysService).currentKey();
  // Signed by hand (not with jose), so that headers jose would refuse to produce (crit, no typ) can be tested.
  const input = `${b64url({ alg: key.alg, typ: 'at+jwt', kid: key.kid, ...header })}.${b64url(payload)}`;
  const data = Buffer.from(input, 'ascii');
  const signature =
    key.alg === 'ES256'
      ? sign('sha256', data, { key: key.privateKey, dsaEncoding: 'ieee-p1363' })
      : sign(key.alg === 'EdDSA' ? null : 'sha256', data, key.privateKey);
  return `${input}.${signature.toString('base64url')}`;
}

/** Every row of every table in the public schema, as one string (bytes as hex, base64 and text). */
export async function dumpDatabase(connection: DatabaseConnection): Promise<string> {
  const rowsOf = async (query: ReturnType<typeof sql>) => {
    // node-postgres answers raw queries with `rows`.
    const result: unknown = await connection.db.execute(query);
    return (result as { rows: Record<string, unknown>[] }).rows;
  };
  const tables = await rowsOf(
    sql`select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'`,
  );
  expect(tables.length).toBeGreaterThan(0);
  const parts: string[] = [];
  for (const { table_name } of tables) {
    const rows = await rowsOf(sql`select * from ${sql.identifier(String(table_name))}`);
    parts.push(
      JSON.stringify(rows, function (this: Record<string, unknown>, key: string, value: unknown) {
        // A Buffer's toJSON has already run on `value`: look at the original.
        const original = this[key];
        if (original instanceof Uint8Array) {
          const bytes = Buffer.from(original);
          return `${bytes.toString('hex')} ${bytes.toString('base64')} ${bytes.toString('base64url')} ${bytes.toString('latin1')}`;
        }
        return value;
      }),
    );
  }
  return parts.join('\n');
}
