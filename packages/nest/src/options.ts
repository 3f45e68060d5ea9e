import { GATEHOUSE_ROLE_PERMISSIONS } from './policy.js';

export interface GatehouseModuleOptions {
  /** The issuer URL: Gatehouse's `PUBLIC_URL` (or `JWT_ISSUER`), the `iss` of its tokens. */
  issuer: string;
  /** The `aud` tokens must carry (Gatehouse's `JWT_AUDIENCE`, `gatehouse` by default). */
  audience?: string;
  /** A service client of Gatehouse (`POST /clients`) with the scope `revocations:read`: the feed's credentials. */
  clientId: string;
  clientSecret: string;
  /**
   * How long, in ms, the kit may go without hearing from the revocation feed
   * before it refuses every protected request (503 `unavailable`) until the
   * feed is back and caught up. Default 5000. Must exceed the feed's
   * keep-alive interval.
   */
  failClosedAfter?: number;
  /**
   * How long, in ms, the feed's stream may stay silent (no event, no keep-alive) before it counts
   * as lost — then the kit fails closed at once, since news may have been missed since it was last
   * heard. Gatehouse sends a keep-alive every 15 s: default 30000.
   */
  feedSilenceTimeout?: number;
  /** How long, in ms, the fetched JWKS is trusted before it is fetched again. Default 300000 (Gatehouse's JWKS_MAX_AGE). */
  jwksCacheMaxAge?: number;
  /** Accepted signature algorithms. Default: Gatehouse's (`ES256`, `EdDSA`, `RS256`); each key's own `alg` is enforced too. */
  algorithms?: string[];
  /** Leeway, in seconds, for `exp`/`iat`/`nbf` against this machine's clock. Default 5. */
  clockTolerance?: number;
  /** Role → permissions, for `@RequirePermissions`. Default: Gatehouse's built-in policy. */
  rolePermissions?: Readonly<Record<string, readonly string[]>>;
  /** Whether service clients' tokens (no session; `client_id`, `scope`) are accepted. Default true. */
  acceptServiceTokens?: boolean;
  /** Distinct verified tokens kept in memory (signature checks are the costly part). Default 10000; 0 disables. */
  verifiedTokenCacheSize?: number;
  /** Register GatehouseGuard as a global guard (every route protected unless @Public()). Default true. */
  globalGuard?: boolean;
  /** Explicit endpoints, when discovery is not wanted (otherwise read from `<issuer>/.well-known/oauth-authorization-server`). */
  jwksUri?: string;
  revocationEndpoint?: string;
  /** Reconnection delays of the feed, in ms: the first and the largest (doubling between). Default 250 and 5000. */
  reconnectDelay?: { initial: number; max: number };
  /** Receives the kit's state changes and problems (never a token or secret). Default: Nest's Logger. */
  onEvent?: (event: GatehouseEvent) => void;
}

/** What the kit reports about itself. */
export type GatehouseEvent =
  | { type: 'feed-connected'; caughtUp: number }
  | { type: 'feed-lost'; reason: string }
  | { type: 'fail-closed'; silentForMs: number }
  | { type: 'recovered'; downForMs: number };

export interface ResolvedOptions {
  issuer: string;
  audience: string;
  clientId: string;
  clientSecret: string;
  failClosedAfter: number;
  feedSilenceTimeout: number;
  jwksCacheMaxAge: number;
  algorithms: string[];
  clockTolerance: number;
  rolePermissions: Readonly<Record<string, readonly string[]>>;
  acceptServiceTokens: boolean;
  verifiedTokenCacheSize: number;
  globalGuard: boolean;
  jwksUri?: string;
  revocationEndpoint?: string;
  reconnectDelay: { initial: number; max: number };
  onEvent?: (event: GatehouseEvent) => void;
}

export const GATEHOUSE_OPTIONS = Symbol('GATEHOUSE_OPTIONS');

/** The options with their defaults, checked (a wrong value stops the start with a clear message). */
export function resolveOptions(options: GatehouseModuleOptions): ResolvedOptions {
  const problems: string[] = [];
  // Compared with each token's `iss` exactly, as a string.
  const issuer = String(options.issuer ?? '');
  try {
    new URL(issuer);
  } catch {
    problems.push("issuer must be a URL (Gatehouse's PUBLIC_URL)");
  }
  if (!options.clientId) problems.push('clientId is required (a Gatehouse service client)');
  if (!options.clientSecret) problems.push('clientSecret is required');
  const positive = (name: string, value: number | undefined, fallback: number): number => {
    if (value === undefined) return fallback;
    if (!Number.isFinite(value) || value <= 0) problems.push(`${name} must be a positive number of ms`);
    return value;
  };
  const failClosedAfter = positive('failClosedAfter', options.failClosedAfter, 5_000);
  const feedSilenceTimeout = positive('feedSilenceTimeout', options.feedSilenceTimeout, 30_000);
  const jwksCacheMaxAge = positive('jwksCacheMaxAge', options.jwksCacheMaxAge, 300_000);
  const reconnectDelay = options.reconnectDelay ?? { initial: 250, max: 5_000 };
  positive('reconnectDelay.initial', reconnectDelay.initial, 1);
  positive('reconnectDelay.max', reconnectDelay.max, 1);
  const algorithms = options.algorithms ?? ['ES256', 'EdDSA', 'RS256'];
  if (algorithms.length === 0 || algorithms.some((alg) => /^(none|HS\d+)$/i.test(alg))) {
    problems.push('algorithms must list asymmetric algorithms (never none or HS*)');
  }
  if (problems.length) throw new Error(`GatehouseModule: ${problems.join('; ')}`);
  return {
    issuer,
    audience: options.audience ?? 'gatehouse',
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    failClosedAfter,
    feedSilenceTimeout,
    jwksCacheMaxAge,
    algorithms,
    clockTolerance: options.clockTolerance ?? 5,
    rolePermissions: options.rolePermissions ?? GATEHOUSE_ROLE_PERMISSIONS,
    acceptServiceTokens: options.acceptServiceTokens ?? true,
    verifiedTokenCacheSize: options.verifiedTokenCacheSize ?? 10_000,
    globalGuard: options.globalGuard ?? true,
    ...(options.jwksUri ? { jwksUri: options.jwksUri } : {}),
    ...(options.revocationEndpoint ? { revocationEndpoint: options.revocationEndpoint } : {}),
    reconnectDelay,
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
  };
}
