import { createPublicKey, verify } from 'node:crypto';
import Fastify from 'fastify';

/**
 * Baseline (b), the ceiling of a JWT check: the same bare Fastify route, but
 * every request's ES256 access token (header alg/typ/kid, the service's
 * claims) is verified with node:crypto — signature (ieee-p1363), issuer,
 * audience and expiry — before the same small JSON is returned. No cache:
 * this is the cost of one verification per request.
 */
const body = process.env.BENCH_BODY ?? '{}';
const jwk = JSON.parse(process.env.BENCH_JWK ?? '{}') as { kid: string } & Record<string, unknown>;
const key = createPublicKey({ key: jwk, format: 'jwk' });
const issuer = process.env.BENCH_ISSUER ?? 'gatehouse';
const audience = process.env.BENCH_AUDIENCE ?? 'gatehouse';

function json(segment: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function valid(authorization: string | undefined): boolean {
  if (!authorization?.startsWith('Bearer ')) return false;
  const parts = authorization.slice(7).split('.');
  if (parts.length !== 3) return false;
  const [headerB64 = '', payloadB64 = '', signatureB64 = ''] = parts;
  const header = json(headerB64);
  if (!header || header.alg !== 'ES256' || header.typ !== 'at+jwt' || header.kid !== jwk.kid) return false;
  const signature = Buffer.from(signatureB64, 'base64url');
  if (signature.length !== 64) return false;
  const data = Buffer.from(`${headerB64}.${payloadB64}`, 'ascii');
  if (!verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature)) return false;
  const claims = json(payloadB64);
  return (
    claims !== undefined &&
    claims.iss === issuer &&
    claims.aud === audience &&
    typeof claims.sub === 'string' &&
    typeof claims.exp === 'number' &&
    claims.exp * 1000 > Date.now()
  );
}

const app = Fastify({ logger: false });
app.get('/users/me', async (request, reply) => {
  if (!valid(request.headers.authorization)) return reply.code(401).send({ error: 'invalid_token' });
  return reply.type('application/json; charset=utf-8').send(body);
});
app.get('/health/live', async () => ({ status: 'ok' }));

await app.listen({ host: '127.0.0.1', port: Number(process.env.BENCH_PORT ?? 0) });
process.stdout.write('listening\n');
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => void app.close().then(() => process.exit(0)));
}
