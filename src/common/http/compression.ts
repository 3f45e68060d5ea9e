import fastifyCompress from '@fastify/compress';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';

/** Responses at least this large are compressed, when the client accepts it; smaller ones gain nothing. */
export const COMPRESSION_THRESHOLD_BYTES = 1024;

/**
 * Never compressed: the token responses live under these (signup, signin,
 * refresh, MFA; the OAuth token endpoint). Compressing a secret beside input an
 * attacker chooses lets the attacker guess it from the compressed length
 * (BREACH); the rest of /auth is small and gains nothing.
 */
const UNCOMPRESSED_PREFIXES = ['/auth/', '/oauth/'];

/** Outside those, the one answer that holds a secret: a new service client's, with its name and scopes. */
const UNCOMPRESSED_ROUTES = [{ method: 'POST', url: '/clients' }];

/**
 * gzip or brotli, as the client's Accept-Encoding prefers, for responses over
 * the threshold: the OpenAPI document, the documentation page's scripts,
 * /metrics, lists. Request bodies are never decompressed (a small gzip body
 * could unpack past the body limit's intent; JSON bodies are small anyway).
 * Call before any route is registered: routes are marked as they are added.
 */
export async function configureCompression(app: NestFastifyApplication): Promise<void> {
  const fastify = app.getHttpAdapter().getInstance();
  // Runs before the plugin's own onRoute hook (added when it loads, below), which reads the mark.
  fastify.addHook('onRoute', (route) => {
    const methods = [route.method].flat();
    if (
      UNCOMPRESSED_PREFIXES.some((prefix) => route.url.startsWith(prefix)) ||
      UNCOMPRESSED_ROUTES.some(({ method, url }) => route.url === url && methods.includes(method))
    ) {
      route.compress = false;
    }
  });
  await app.register(fastifyCompress, {
    global: true,
    globalDecompression: false,
    encodings: ['br', 'gzip'],
    threshold: COMPRESSION_THRESHOLD_BYTES,
  });
}
