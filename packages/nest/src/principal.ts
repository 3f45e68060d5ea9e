/** Who is calling, from a verified Gatehouse access token: what `@CurrentUser()` gives a handler. */
export interface GatehousePrincipal {
  /** `sub`: the user's id — or, for a service client's token, the client id. */
  userId: string;
  /** `sid`: the session the token belongs to; undefined for a service client (it has no session). */
  sessionId: string | undefined;
  /** The roles the token was issued with (a role change reaches the kit as a revocation of the old tokens). */
  roles: readonly string[];
  /** How the user signed in (`pwd`, `otp`, …); empty when the token does not say. */
  amr: readonly string[];
  /** Set for a service client's token (client-credentials grant). */
  clientId?: string;
  /** The granted scopes of a service client's token. */
  scopes?: readonly string[];
  /** The token's `jti`. */
  tokenId: string | undefined;
  /** When the token expires (`exp`). */
  expiresAt: Date;
}
