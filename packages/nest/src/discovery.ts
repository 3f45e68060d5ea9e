/** Where the kit finds what it needs on Gatehouse. */
export interface Endpoints {
  jwksUri: string;
  /** `GET` the revocation feed (JSON with `?since=`, or Server-Sent Events). */
  revocations: string;
}

/** The request options every call to Gatehouse carries: a bound on how long it may take. */
export const REQUEST_TIMEOUT_MS = 10_000;

/**
 * Reads `<issuer>/.well-known/oauth-authorization-server` (RFC 8414) for the
 * JWKS; what it does not list (the revocation feed has no standard member) is
 * Gatehouse's own path under the issuer. Explicit options win over both.
 */
export async function discoverEndpoints(
  issuer: string,
  explicit: Partial<Endpoints>,
  signal?: AbortSignal,
): Promise<Endpoints> {
  const base = issuer.replace(/\/+$/, '');
  let metadata: Record<string, unknown> = {};
  if (!explicit.jwksUri || !explicit.revocations) {
    const response = await fetch(`${base}/.well-known/oauth-authorization-server`, {
      headers: { accept: 'application/json' },
      signal: withTimeout(signal),
    });
    if (!response.ok) throw new Error(`issuer metadata answered ${response.status}`);
    metadata = (await response.json()) as Record<string, unknown>;
    if (metadata.issuer !== issuer) {
      // RFC 8414 section 3.3: the metadata must name the issuer it was fetched for.
      throw new Error(`issuer metadata names another issuer (${String(metadata.issuer)})`);
    }
  }
  const url = (value: unknown): string | undefined =>
    typeof value === 'string' && /^https?:\/\//.test(value) ? value : undefined;
  return {
    jwksUri: explicit.jwksUri ?? url(metadata.jwks_uri) ?? `${base}/.well-known/jwks.json`,
    revocations:
      explicit.revocations ?? url(metadata.revocation_feed_endpoint) ?? `${base}/oauth/revocations`,
  };
}

/** `signal`, also aborted after REQUEST_TIMEOUT_MS. */
export function withTimeout(signal: AbortSignal | undefined, ms = REQUEST_TIMEOUT_MS): AbortSignal {
  const timeout = AbortSignal.timeout(ms);
  return signal ? AbortSignal.any([signal, timeout]) : timeout;
}

/** `Authorization: Basic` for a client, as RFC 6749 section 2.3.1 encodes it (form-encoded, then base64). */
export function basicAuthorization(clientId: string, clientSecret: string): string {
  const form = (value: string) => encodeURIComponent(value).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${form(clientId)}:${form(clientSecret)}`).toString('base64')}`;
}

/** Waits `ms`, or less if `signal` aborts first (never rejects). */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
