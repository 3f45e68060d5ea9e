import { Injectable } from '@nestjs/common';
import { ApiError } from '../common/errors/api-error.js';
import { SCOPE_PATTERN } from '../clients/client.schemas.js';
import { type AuthenticatedClient, ClientsService } from '../clients/clients.service.js';
import { TokenError } from '../keys/access-token.js';
import { AccessTokenService } from '../keys/access-token.service.js';
import { AuthStateService } from '../sessions/auth-state.service.js';
import type { IntrospectionResponse, TokenRequest, TokenResponse } from './oauth.schemas.js';

const INACTIVE: IntrospectionResponse = Object.freeze({ active: false });

/** The client-credentials grant (RFC 6749 §4.4) and token introspection (RFC 7662). */
@Injectable()
export class OAuthService {
  constructor(
    private readonly tokens: AccessTokenService,
    private readonly authState: AuthStateService,
    private readonly clients: ClientsService,
  ) {}

  /** A token for the authenticated client, with the scopes asked for (all of its own when none). */
  token(client: AuthenticatedClient, request: TokenRequest): TokenResponse {
    if (request.grant_type !== 'client_credentials') {
      throw new ApiError('unsupported_grant_type', 'The only grant_type is client_credentials');
    }
    const scopes = grantedScopes(client, request.scope);
    const scope = scopes.join(' ');
    const issued = this.tokens.issueForClient({ clientId: client.id, scope });
    return { access_token: issued.accessToken, token_type: 'Bearer', expires_in: issued.expiresIn, scope };
  }

  /**
   * What a token is now: `{ active: false }` for anything but a currently valid access token. A
   * user's token is checked as Gatehouse's own routes check it (the same session state, so a
   * revocation is seen as soon as they see it); a client's needs its client to exist still.
   */
  async introspect(token: string): Promise<IntrospectionResponse> {
    let verified;
    try {
      verified = await this.tokens.verifyAny(token);
    } catch (error) {
      if (error instanceof TokenError) return INACTIVE;
      throw error;
    }
    if (verified.kind === 'client') {
      const { claims } = verified;
      if (!(await this.clients.exists(claims.client_id))) return INACTIVE;
      return {
        active: true,
        token_type: 'Bearer',
        sub: claims.sub,
        client_id: claims.client_id,
        scope: claims.scope,
        iss: claims.iss,
        aud: claims.aud,
        iat: claims.iat,
        exp: claims.exp,
        jti: claims.jti,
      };
    }
    const { claims } = verified;
    const state = await this.authState.live(claims.sid, claims.sub);
    if (!state) return INACTIVE;
    return {
      active: true,
      token_type: 'Bearer',
      sub: claims.sub,
      sid: claims.sid,
      roles: [...state.roles],
      ...(claims.amr ? { amr: [...claims.amr] } : {}),
      iss: claims.iss,
      aud: claims.aud,
      iat: claims.iat,
      exp: claims.exp,
      jti: claims.jti,
    };
  }
}

/** RFC 6749 §3.3: the scopes asked for, each given to the client; none asked: all of the client's. */
function grantedScopes(client: AuthenticatedClient, requested: string | undefined): string[] {
  if (requested === undefined) return [...client.scopes];
  const asked = [...new Set(requested.split(' ').filter((scope) => scope !== ''))];
  if (asked.length === 0) return [...client.scopes];
  for (const scope of asked) {
    if (!SCOPE_PATTERN.test(scope)) throw new ApiError('invalid_scope', 'scope is malformed');
    if (!client.scopes.includes(scope)) {
      throw new ApiError('invalid_scope', `scope "${scope}" is not granted to this client`);
    }
  }
  return asked;
}
