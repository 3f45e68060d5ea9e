// JWS by hand on node:crypto rather than jose, decided by measurement (bench/baselines/jws-compare.ts,
// `npm run bench` prints it): ours verifies 1.6–3× faster (ES256 ~14.5k/s vs ~8.4k/s, RS256 ~33k/s vs
// ~10k/s) and signs ES256/EdDSA ~2.5× faster, at a half to a third of the CPU per token. It is
// synchronous and stays off libuv's 4-thread pool, where jose's WebCrypto jobs queue. And jose accepts
// padded or non-canonical base64url signatures that test/keys/access-token.test.ts rejects (malleable
// tokens). jose stays a test dependency: an independent implementation to forge tokens with.
import { constants, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';

import { LRUCache } from 'lru-cache';

import type { JwtAlg } from '../config/jwt-alg.js';
import { keyMatchesAlg, type PublicJwk, type SigningKeyMaterial } from './signing-key.js';

export interface AccessTokenClaims {
  iss: string;
  aud: string;
  sub: string;
  sid: string;
  roles: string[];
  /**
   * How the user authenticated (RFC 8176): `["pwd"]` or `["pwd","otp"]`. Always issued; optional
   * when verifying so that tokens signed before it existed stay valid until they expire.
   */
  amr?: string[];
  iat: number;
  exp: number;
  jti: string;
}

/**
 * A service client's access token (client credentials grant, RFC 9068's claims): `sub` and
 * `client_id` are the client's id, `scope` what it was granted (space-separated). No `sid`, no
 * `roles`: it is never a user's token.
 */
export interface ClientTokenClaims {
  iss: string;
  aud: string;
  sub: string;
  client_id: string;
  scope: string;
  iat: number;
  exp: number;
  jti: string;
}

/** A verified token of either kind. */
export type VerifiedToken =
  | { kind: 'user'; claims: Readonly<AccessTokenClaims> }
  | { kind: 'client'; claims: Readonly<ClientTokenClaims> };

export type TokenErrorCode = 'invalid_token' | 'token_expired';

/** Verification failure. The message is short and never contains the token. */
export class TokenError extends Error {
  constructor(
    readonly code: TokenErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'TokenError';
  }
}

export interface AccessTokenVerifierOptions {
  /** The one algorithm accepted (`JWT_ALG`). */
  alg: JwtAlg;
  issuer: string;
  audience: string;
  /** Public key for a `kid`, or undefined when unknown. Must be a plain lookup (it sees untrusted input). */
  resolveKey: (kid: string) => KeyObject | undefined;
  /**
   * The longest lifetime (`exp − iat`, in seconds) accepted: ACCESS_TOKEN_TTL plus
   * a little. A validly signed token that claims more is refused — whoever holds
   * a leaked key must not mint tokens that outlive its revocation's reach.
   * Unset: no bound (tests of other checks only; the service always sets it).
   */
  maxLifetimeSeconds?: number;
  /** Verified tokens kept in memory (default 10 000); 0 disables the cache. */
  cacheSize?: number;
  /** Current time in milliseconds (for tests). */
  now?: () => number;
}

/** Tokens longer than this are rejected before any parsing. */
export const MAX_TOKEN_LENGTH = 8 * 1024;
/** How far in the future `iat` may be (clock skew between instances), in seconds. */
export const MAX_IAT_SKEW_SECONDS = 60;

/**
 * The longest an access token of this service can live (`exp − iat`, seconds): ACCESS_TOKEN_TTL plus
 * the skew allowed between instances. The verifier refuses longer ones, so a revocation matters for
 * this long after it (the revocation feed's `until`).
 */
export function accessTokenLifetimeBound(accessTokenTtl: number): number {
  return accessTokenTtl + MAX_IAT_SKEW_SECONDS;
}

const TYP = 'at+jwt';
const B64URL = /^[A-Za-z0-9_-]+$/;
const MAX_KID_LENGTH = 256;

function b64urlJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

function signingInput(headerB64: string, payloadB64: string): Buffer {
  return Buffer.from(`${headerB64}.${payloadB64}`, 'ascii');
}

/** Signs `claims` as a compact JWS with header exactly `{ alg, typ: 'at+jwt', kid }`. */
export function signAccessToken(key: SigningKeyMaterial, claims: AccessTokenClaims): string {
  // Only the known claims, in a fixed order: nothing else from the caller's object leaks into the token.
  return signJws(key, {
    iss: claims.iss,
    aud: claims.aud,
    sub: claims.sub,
    sid: claims.sid,
    roles: claims.roles,
    ...(claims.amr ? { amr: claims.amr } : {}),
    iat: claims.iat,
    exp: claims.exp,
    jti: claims.jti,
  });
}

function signJws(key: SigningKeyMaterial, claims: Record<string, unknown>): string {
  const header = b64urlJson({ alg: key.alg, typ: TYP, kid: key.kid });
  const payload = b64urlJson(claims);
  const data = signingInput(header, payload);
  let signature: Buffer;
  switch (key.alg) {
    case 'ES256':
      signature = cryptoSign('sha256', data, { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
      break;
    case 'EdDSA':
      signature = cryptoSign(null, data, key.privateKey);
      break;
    case 'RS256':
      signature = cryptoSign('sha256', data, { key: key.privateKey, padding: constants.RSA_PKCS1_PADDING });
      break;
    default:
      throw new Error('access token: unsupported algorithm');
  }
  return `${header}.${payload}.${signature.toString('base64url')}`;
}

/** Signs a service client's token, header as signAccessToken's: only the known claims, in a fixed order. */
export function signClientAccessToken(key: SigningKeyMaterial, claims: ClientTokenClaims): string {
  return signJws(key, {
    iss: claims.iss,
    aud: claims.aud,
    sub: claims.sub,
    client_id: claims.client_id,
    scope: claims.scope,
    iat: claims.iat,
    exp: claims.exp,
    jti: claims.jti,
  });
}

/** The JWKS document (`GET /.well-known/jwks.json`): public members only. */
export function publicJwks(keys: SigningKeyMaterial[]): { keys: PublicJwk[] } {
  return { keys: keys.map((k) => ({ ...k.publicJwk })) };
}

function invalid(message: string): TokenError {
  return new TokenError('invalid_token', message);
}

/** Strict, canonical base64url (no padding, no stray bits). */
function decodeSegment(segment: string): Buffer {
  if (!B64URL.test(segment)) throw invalid('malformed token');
  const bytes = Buffer.from(segment, 'base64url');
  if (bytes.toString('base64url') !== segment) throw invalid('malformed token');
  return bytes;
}

function parseJsonObject(bytes: Buffer, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw invalid(`malformed ${what}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(`malformed ${what}`);
  return value as Record<string, unknown>;
}

function own(obj: Record<string, unknown>, name: string): unknown {
  return Object.hasOwn(obj, name) ? obj[name] : undefined;
}

function isNonEmptyString(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0;
}

/**
 * Verifies access tokens with node:crypto (synchronous, off the libuv thread pool).
 * Each distinct token is verified once; the verified claims are then served from a bounded
 * LRU cache keyed by the exact token string, expiry still checked on every call.
 * Returned claims are frozen (shared between calls).
 */
export class AccessTokenVerifier {
  private readonly alg: JwtAlg;
  private readonly issuer: string;
  private readonly audience: string;
  private readonly resolveKey: (kid: string) => KeyObject | undefined;
  private readonly now: () => number;
  private readonly maxLifetimeSeconds: number | undefined;
  /** Verified claims by exact token, with the kid that verified them (see forgetKey). */
  private readonly cache: LRUCache<string, { token: VerifiedToken; kid: string }> | undefined;
  /** Keys already checked against `alg` (resolveKey normally returns the same objects). */
  private readonly checkedKeys = new WeakSet<KeyObject>();
  private hits = 0;
  private misses = 0;

  constructor(options: AccessTokenVerifierOptions) {
    if (!isNonEmptyString(options.issuer) || !isNonEmptyString(options.audience)) {
      throw new Error('access token verifier: issuer and audience are required');
    }
    const cacheSize = options.cacheSize ?? 10_000;
    if (!Number.isSafeInteger(cacheSize) || cacheSize < 0) {
      throw new Error('access token verifier: cacheSize must be a non-negative integer');
    }
    this.alg = options.alg;
    this.issuer = options.issuer;
    this.audience = options.audience;
    this.resolveKey = options.resolveKey;
    this.now = options.now ?? Date.now;
    if (
      options.maxLifetimeSeconds !== undefined &&
      (!Number.isSafeInteger(options.maxLifetimeSeconds) || options.maxLifetimeSeconds <= 0)
    ) {
      throw new Error('access token verifier: maxLifetimeSeconds must be a positive integer');
    }
    this.maxLifetimeSeconds = options.maxLifetimeSeconds;
    this.cache = cacheSize > 0 ? new LRUCache({ max: cacheSize }) : undefined;
  }

  /**
   * Returns the verified claims of a user's token or throws a TokenError. A service client's token
   * (no `sid`) is `invalid_token` here: it never stands for a user.
   */
  verify(token: string): AccessTokenClaims {
    const verified = this.verifyAny(token);
    if (verified.kind !== 'user') throw invalid('not a user token');
    return verified.claims;
  }

  /** Verifies a token of either kind (a user's or a service client's), or throws a TokenError. */
  verifyAny(token: string): VerifiedToken {
    if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
      throw invalid('malformed token');
    }
    const cached = this.cache?.get(token);
    if (cached !== undefined) {
      this.hits++;
      if (cached.token.claims.exp * 1000 <= this.now()) {
        this.cache?.delete(token);
        throw new TokenError('token_expired', 'token expired');
      }
      return cached.token;
    }
    this.misses++;
    const verified = this.verifyUncached(token);
    this.cache?.set(token, verified);
    return verified.token;
  }

  /** Drops every cached token (for instance after removing a compromised key). */
  clearCache(): void {
    this.cache?.clear();
  }

  /** Drops the cached tokens a key verified (it was revoked): they are checked afresh, and refused. */
  forgetKey(kid: string): void {
    if (!this.cache) return;
    const doomed: string[] = [];
    for (const [token, entry] of this.cache.entries()) if (entry.kid === kid) doomed.push(token);
    for (const token of doomed) this.cache.delete(token);
  }

  cacheStats(): { size: number; hits: number; misses: number } {
    return { size: this.cache?.size ?? 0, hits: this.hits, misses: this.misses };
  }

  private verifyUncached(token: string): { token: VerifiedToken; kid: string } {
    const parts = token.split('.');
    if (parts.length !== 3) throw invalid('malformed token');
    const [headerB64 = '', payloadB64 = '', signatureB64 = ''] = parts;
    const headerBytes = decodeSegment(headerB64);
    const payloadBytes = decodeSegment(payloadB64);
    const signature = decodeSegment(signatureB64);

    // Header. jwk / jku / x5u / x5c / x5t are deliberately never read.
    const header = parseJsonObject(headerBytes, 'header');
    if (own(header, 'alg') !== this.alg) throw invalid('unexpected alg');
    const typ = own(header, 'typ');
    if (typeof typ !== 'string') throw invalid('unexpected typ');
    const lowerTyp = typ.toLowerCase();
    if (lowerTyp !== TYP && lowerTyp !== `application/${TYP}`) throw invalid('unexpected typ');
    if (Object.hasOwn(header, 'crit')) throw invalid('unsupported crit header');
    const kid = own(header, 'kid');
    if (!isNonEmptyString(kid) || kid.length > MAX_KID_LENGTH) throw invalid('unknown key');
    const key = this.resolveKey(kid);
    if (key === undefined) throw invalid('unknown key');

    // Signature.
    if (!this.verifySignature(key, signingInput(headerB64, payloadB64), signature)) {
      throw invalid('invalid signature');
    }

    // Claims.
    const payload = parseJsonObject(payloadBytes, 'payload');
    if (own(payload, 'iss') !== this.issuer) throw invalid('unexpected iss');
    const aud = own(payload, 'aud');
    const audOk = aud === this.audience || (Array.isArray(aud) && aud.includes(this.audience));
    if (!audOk) throw invalid('unexpected aud');
    const sub = own(payload, 'sub');
    const sid = own(payload, 'sid');
    const jti = own(payload, 'jti');
    const clientId = own(payload, 'client_id');
    // A user's token has a session; a client's has client_id and no session; never both.
    const isClient = sid === undefined && clientId !== undefined;
    if (!isNonEmptyString(sub) || !isNonEmptyString(jti) || (!isClient && !isNonEmptyString(sid))) {
      throw invalid('missing or invalid claims');
    }
    if (!isClient && clientId !== undefined) throw invalid('missing or invalid claims');
    const scope = own(payload, 'scope');
    if (isClient && (clientId !== sub || typeof scope !== 'string'))
      throw invalid('missing or invalid claims');
    const roles = own(payload, 'roles');
    if (!isClient && (!Array.isArray(roles) || !roles.every((r): r is string => typeof r === 'string'))) {
      throw invalid('missing or invalid claims');
    }
    if (isClient && roles !== undefined) throw invalid('missing or invalid claims');
    const amr = own(payload, 'amr');
    if (amr !== undefined && (!Array.isArray(amr) || !amr.every((m): m is string => typeof m === 'string'))) {
      throw invalid('missing or invalid claims');
    }
    const iat = own(payload, 'iat');
    const exp = own(payload, 'exp');
    if (typeof iat !== 'number' || typeof exp !== 'number' || !Number.isSafeInteger(iat)) {
      throw invalid('missing or invalid claims');
    }
    if (!Number.isSafeInteger(exp)) throw invalid('missing or invalid claims');
    const nbf = own(payload, 'nbf');
    if (nbf !== undefined && (typeof nbf !== 'number' || !Number.isFinite(nbf))) {
      throw invalid('missing or invalid claims');
    }

    const nowMs = this.now();
    if (exp * 1000 <= nowMs) throw new TokenError('token_expired', 'token expired');
    if (nbf !== undefined && nbf * 1000 > nowMs) throw invalid('token not yet valid');
    if ((iat - MAX_IAT_SKEW_SECONDS) * 1000 > nowMs) throw invalid('token issued in the future');
    if (exp <= iat) throw invalid('missing or invalid claims');
    if (this.maxLifetimeSeconds !== undefined && exp - iat > this.maxLifetimeSeconds) {
      throw invalid('token lifetime too long');
    }

    if (isClient) {
      const claims: ClientTokenClaims = {
        iss: this.issuer,
        aud: this.audience,
        sub,
        client_id: sub,
        scope: scope as string,
        iat,
        exp,
        jti,
      };
      return { token: { kind: 'client', claims: Object.freeze(claims) }, kid };
    }
    const claims: AccessTokenClaims = {
      iss: this.issuer,
      aud: this.audience,
      sub,
      sid: sid as string,
      roles: Object.freeze([...(roles as string[])]) as string[],
      ...(amr ? { amr: Object.freeze([...amr]) as string[] } : {}),
      iat,
      exp,
      jti,
    };
    return { token: { kind: 'user', claims: Object.freeze(claims) }, kid };
  }

  private verifySignature(key: KeyObject, data: Buffer, signature: Buffer): boolean {
    if (!this.checkedKeys.has(key)) {
      // A key of another type would make node:crypto run a different algorithm: refuse it.
      if (!keyMatchesAlg(key, this.alg)) throw invalid('key does not match alg');
      this.checkedKeys.add(key);
    }
    try {
      switch (this.alg) {
        case 'ES256':
          if (signature.length !== 64) return false;
          return cryptoVerify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature);
        case 'EdDSA':
          if (signature.length !== 64) return false;
          return cryptoVerify(null, data, key, signature);
        case 'RS256':
          return cryptoVerify('sha256', data, { key, padding: constants.RSA_PKCS1_PADDING }, signature);
        default:
          return false;
      }
    } catch {
      return false;
    }
  }
}
