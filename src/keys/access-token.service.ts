import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/app-config.js';
import { SigningKeysService } from './signing-keys.service.js';
import {
  type AccessTokenClaims,
  AccessTokenVerifier,
  accessTokenLifetimeBound,
  signAccessToken,
  signClientAccessToken,
  type VerifiedToken,
} from './access-token.js';

export interface IssuedAccessToken {
  accessToken: string;
  expiresIn: number;
}

/** Issues and verifies access tokens with the shared signing keys. */
@Injectable()
export class AccessTokenService {
  private readonly verifier: AccessTokenVerifier;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly keys: SigningKeysService,
  ) {
    this.verifier = new AccessTokenVerifier({
      alg: config.jwt.alg,
      issuer: config.jwt.issuer,
      audience: config.jwt.audience,
      cacheSize: config.jwt.verifiedTokenCacheSize,
      resolveKey: (kid) => keys.publicKeyFor(kid),
      // Every token this service issues lives exactly ACCESS_TOKEN_TTL; the margin only
      // spares tokens of an instance configured a little differently during a rollout.
      maxLifetimeSeconds: accessTokenLifetimeBound(config.jwt.accessTokenTtl),
    });
    // A revoked key's tokens leave the verified-token cache at once.
    keys.onKeyRemoved((kid) => this.verifier.forgetKey(kid));
  }

  /** `amr`: how the session's signin authenticated (RFC 8176), e.g. `["pwd","otp"]`. */
  issue(subject: { userId: string; sessionId: string; roles: string[]; amr: string[] }): IssuedAccessToken {
    const iat = Math.floor(Date.now() / 1000);
    const ttl = this.config.jwt.accessTokenTtl;
    const accessToken = signAccessToken(this.keys.currentKey(), {
      iss: this.config.jwt.issuer,
      aud: this.config.jwt.audience,
      sub: subject.userId,
      sid: subject.sessionId,
      roles: subject.roles,
      amr: subject.amr,
      iat,
      exp: iat + ttl,
      jti: randomUUID(),
    });
    return { accessToken, expiresIn: ttl };
  }

  /**
   * A service client's token (client credentials): `sub` and `client_id` the client, `scope` the
   * granted scopes (space-separated); no session, no roles. Same keys and lifetime as a user's.
   */
  issueForClient(client: { clientId: string; scope: string }): IssuedAccessToken {
    const iat = Math.floor(Date.now() / 1000);
    const ttl = this.config.jwt.accessTokenTtl;
    const accessToken = signClientAccessToken(this.keys.currentKey(), {
      iss: this.config.jwt.issuer,
      aud: this.config.jwt.audience,
      sub: client.clientId,
      client_id: client.clientId,
      scope: client.scope,
      iat,
      exp: iat + ttl,
      jti: randomUUID(),
    });
    return { accessToken, expiresIn: ttl };
  }

  /**
   * A user's verified claims, or a TokenError (`invalid_token` / `token_expired`); a client's token is
   * invalid here. Against keys the database vouches for now (SigningKeysService.current): a read that
   * drops a revoked key drops its cached tokens too, so a cache hit is never older than the keys.
   */
  async verify(token: string): Promise<AccessTokenClaims> {
    await this.keys.current();
    return this.verifier.verify(token);
  }

  /** A verified token of either kind (introspection), or a TokenError; the same keys as `verify`. */
  async verifyAny(token: string): Promise<VerifiedToken> {
    await this.keys.current();
    return this.verifier.verifyAny(token);
  }
}
