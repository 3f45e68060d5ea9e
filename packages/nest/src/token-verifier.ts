import { createRemoteJWKSet, errors, type JWTPayload, jwtVerify } from 'jose';
import { GatehouseError } from './errors.js';
import type { ResolvedOptions } from './options.js';
import type { GatehousePrincipal } from './principal.js';

interface Verified {
  principal: GatehousePrincipal;
  /** Until when (ms, this machine's clock) the verification may be reused: `exp` + leeway, bounded by the JWKS cache. */
  reusableUntil: number;
}

/**
 * Verifies Gatehouse access tokens locally: the signature against the JWKS
 * (fetched once, refetched when it is older than `jwksCacheMaxAge` or when a
 * token names an unknown `kid` — how rotation and key revocation reach the
 * kit), then the algorithm, `typ: at+jwt`, issuer, audience and expiry. No
 * network call per request: a bounded cache keeps each distinct token's
 * result (signature checks are the costly part), its expiry still checked on
 * every use. Whether the token's session was revoked is not its business:
 * the guard asks the revocation set on every request, cached or not.
 */
export class TokenVerifier {
  private readonly jwks: ReturnType<typeof createRemoteJWKSet>;
  private readonly cache = new Map<string, Verified>();

  constructor(
    jwksUri: string,
    private readonly options: ResolvedOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.jwks = createRemoteJWKSet(new URL(jwksUri), {
      cacheMaxAge: options.jwksCacheMaxAge,
      // An unknown kid refetches the JWKS at most once a second: rotation and a
      // revoked key's replacement are seen at once, a flood of made-up kids costs one fetch a second.
      cooldownDuration: 1_000,
      timeoutDuration: 5_000,
    });
  }

  private nextForcedReload = 0;

  private async check(token: string, now: number): Promise<JWTPayload> {
    const { payload } = await jwtVerify(token, this.jwks, {
      issuer: this.options.issuer,
      audience: this.options.audience,
      typ: 'at+jwt',
      algorithms: this.options.algorithms,
      clockTolerance: this.options.clockTolerance,
      requiredClaims: ['sub', 'exp', 'iat'],
      currentDate: new Date(now),
    });
    return payload;
  }

  /** The token's principal, or a GatehouseError (401 invalid/expired, 503 when the JWKS cannot be fetched). */
  async verify(token: string): Promise<GatehousePrincipal> {
    const now = this.now();
    const cached = this.cache.get(token);
    if (cached) {
      if (now < cached.reusableUntil) return cached.principal;
      this.cache.delete(token);
    }
    let payload: JWTPayload;
    try {
      payload = await this.check(token, now);
    } catch (error) {
      // A kid the cached JWKS does not hold, when jose's own cooldown kept it from refetching (the
      // JWKS was fetched less than a second ago): a key published since — a rotation, or the fresh
      // key after a revoked one — must not fail a request. One extra fetch a second at most.
      if (!(error instanceof errors.JWKSNoMatchingKey) || performance.now() < this.nextForcedReload) {
        throw refusal(error);
      }
      this.nextForcedReload = performance.now() + 1_000;
      try {
        await this.jwks.reload();
        payload = await this.check(token, now);
      } catch (retried) {
        throw refusal(retried);
      }
    }
    const principal = principalOf(payload, this.options.acceptServiceTokens);
    const size = this.options.verifiedTokenCacheSize;
    if (size > 0) {
      // Oldest first out: a Map iterates in insertion order.
      if (this.cache.size >= size) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(token, {
        principal,
        reusableUntil: Math.min(
          principal.expiresAt.getTime() + this.options.clockTolerance * 1000,
          now + this.options.jwksCacheMaxAge,
        ),
      });
    }
    return principal;
  }
}

function refusal(error: unknown): GatehouseError {
  if (error instanceof errors.JWTExpired)
    return new GatehouseError('token_expired', 'The access token has expired');
  if (error instanceof errors.JWKSTimeout || !(error instanceof errors.JOSEError)) {
    // The keys could not be fetched: not the caller's fault, and not a reason to trust the token.
    return new GatehouseError('unavailable', 'The signing keys cannot be fetched from Gatehouse');
  }
  return new GatehouseError('invalid_token', 'The access token is not valid');
}

const strings = (value: unknown): value is string[] =>
  Array.isArray(value) && value.every((item) => typeof item === 'string');

/** The principal of verified claims; a shape Gatehouse does not issue is refused. */
function principalOf(payload: JWTPayload, acceptServiceTokens: boolean): GatehousePrincipal {
  const invalid = () => new GatehouseError('invalid_token', 'The access token is not valid');
  const {
    sub,
    sid,
    roles,
    amr,
    client_id: clientId,
    scope,
    jti,
    exp,
  } = payload as JWTPayload & Record<string, unknown>;
  if (typeof sub !== 'string' || sub === '' || typeof exp !== 'number') throw invalid();
  const base = {
    userId: sub,
    tokenId: typeof jti === 'string' ? jti : undefined,
    expiresAt: new Date(exp * 1000),
  };
  if (sid === undefined) {
    // A service client's token (client-credentials grant): no session, a client id and scopes.
    if (!acceptServiceTokens || typeof clientId !== 'string' || clientId === '') throw invalid();
    if (scope !== undefined && typeof scope !== 'string') throw invalid();
    return Object.freeze({
      ...base,
      sessionId: undefined,
      // A client has scopes, not roles: @Roles() and @RequirePermissions() never admit one.
      roles: Object.freeze([]),
      amr: Object.freeze([]),
      clientId,
      scopes: Object.freeze(scope ? scope.split(' ').filter(Boolean) : []),
    });
  }
  if (typeof sid !== 'string' || sid === '' || !strings(roles)) throw invalid();
  if (amr !== undefined && !strings(amr)) throw invalid();
  return Object.freeze({
    ...base,
    sessionId: sid,
    roles: Object.freeze([...roles]),
    amr: Object.freeze(amr ? [...amr] : []),
  });
}
