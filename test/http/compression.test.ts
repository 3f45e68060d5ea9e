import { describe, expect, it } from 'vitest';
import { ROOT_EMAIL, ROOT_PASSWORD, signinRoot } from '../support/admin.js';
import type { Reply } from '../support/http.js';
import { basic, postForm } from '../support/oauth.js';
import { useTestApp } from '../support/test-app.js';
import { NO_THROTTLE } from '../support/tokens.js';

const BOTH = 'gzip, deflate, br';

/** A response as it went on the wire: its encoding and its size there. */
const encodingOf = (reply: Reply) => reply.headers['content-encoding'];

/**
 * Large responses go out compressed (brotli or gzip, as the client accepts);
 * token responses never do (BREACH), nor anything under /auth/.
 */
describe('response compression', () => {
  // RS256: its access tokens are long enough to put a token response over the threshold.
  const { http } = useTestApp({
    ...NO_THROTTLE,
    JWT_ALG: 'RS256',
    ADMIN_EMAIL: ROOT_EMAIL,
    ADMIN_PASSWORD: ROOT_PASSWORD,
  });

  /** The same GET, asked identity, gzip and brotli: the three bodies decode to the same text. */
  async function compare(path: string, token?: string) {
    const get = (encoding: string) => http.get(path, { token, headers: { 'accept-encoding': encoding } });
    const plain = await get('identity');
    const gzip = await get('gzip');
    const br = await get(BOTH);
    return { plain, gzip, br };
  }

  async function expectCompressed(path: string, token?: string) {
    const { plain, gzip, br } = await compare(path, token);
    expect(plain.status, path).toBe(200);
    expect(encodingOf(plain), path).toBeUndefined();
    expect(plain.bytes!, path).toBeGreaterThanOrEqual(1024);
    expect(encodingOf(gzip), path).toBe('gzip');
    expect(encodingOf(br), `${path}: brotli preferred`).toBe('br');
    // /metrics changes between two scrapes (CPU time, memory): the same series, not the same values.
    const content = (reply: Reply) =>
      path === '/metrics' ? reply.text.split('\n').filter((line) => line.startsWith('#')) : reply.text;
    for (const reply of [gzip, br]) {
      expect(content(reply), path).toEqual(content(plain));
      expect(reply.bytes!, path).toBeLessThan(plain.bytes! / 2);
      expect(String(reply.headers.vary), path).toMatch(/accept-encoding/i);
    }
    return { plain: plain.bytes!, gzip: gzip.bytes!, br: br.bytes! };
  }

  it('compresses the documentation, the OpenAPI document, /metrics and lists over 1 KiB', async () => {
    const admin = await signinRoot(http);
    for (let i = 0; i < 12; i++) await http.signup();
    const sizes: Record<string, unknown> = {};
    for (const [path, token] of [
      ['/docs/openapi.json', undefined],
      ['/docs/swagger-ui-bundle.js', undefined],
      ['/metrics', undefined],
      ['/users?limit=100', admin.accessToken],
      ['/audit-events?limit=100', admin.accessToken],
    ] as const) {
      sizes[path] = await expectCompressed(path, token);
    }
    console.log('bytes on the wire (identity, gzip, brotli):', sizes);
  });

  it('sends small responses as they are (the JWKS, /users/me): below the threshold', async () => {
    const user = await http.signup();
    for (const [path, token] of [
      ['/.well-known/jwks.json', undefined],
      ['/users/me', user.accessToken],
      ['/health/live', undefined],
    ] as const) {
      const reply = await http.get(path, { token, headers: { 'accept-encoding': BOTH } });
      expect(reply.status, path).toBe(200);
      expect(reply.bytes!, path).toBeLessThan(1024);
      expect(encodingOf(reply), path).toBeUndefined();
    }
  });

  it('never compresses a token response or anything under /auth/, however large', async () => {
    const asked = { 'accept-encoding': BOTH };
    const notCompressed = (reply: Reply, what: string, large = true) => {
      expect(reply.status, `${what}: ${reply.text}`).toBeLessThan(300);
      if (large) expect(reply.bytes!, `${what} is over the threshold`).toBeGreaterThanOrEqual(1024);
      expect(encodingOf(reply), what).toBeUndefined();
      expect(reply.headers.vary, what).toBeUndefined();
    };
    // A long email: signup and signin answers over 1 KiB, each holding tokens (a refresh answer,
    // without the email, stays under it: the same rule keeps it uncompressed).
    const email = `${'a'.repeat(60)}.${Date.now()}@${'b'.repeat(60)}.example.com`;
    const password = 'correct horse battery staple';
    const signup = await http.post('/auth/signup', { body: { email, password }, headers: asked });
    notCompressed(signup, 'signup');
    const signin = await http.post('/auth/signin', { body: { email, password }, headers: asked });
    notCompressed(signin, 'signin');
    const refresh = await http.post('/auth/refresh', { token: signin.body.refreshToken, headers: asked });
    notCompressed(refresh, 'refresh', false);
    for (let i = 0; i < 6; i++) await http.signin(email, password);
    notCompressed(
      await http.get('/auth/sessions', { token: signin.body.accessToken, headers: asked }),
      'sessions',
    );
  });

  it('never compresses a new client’s secret or a client’s token, beside a name and scopes the caller chose', async () => {
    const asked = { 'accept-encoding': BOTH };
    const admin = await signinRoot(http);
    // Long scopes put both answers over the threshold: each holds a secret next to chosen text.
    const scopes = Array.from(
      { length: 16 },
      (_, i) => `orders:${String(i).padStart(2, '0')}:${'x'.repeat(54)}`,
    );
    const created = await http.post('/clients', {
      token: admin.accessToken,
      body: { name: 'c'.repeat(100), scopes },
      headers: asked,
    });
    expect(created.status, created.text).toBe(201);
    expect(Buffer.byteLength(created.text), 'a new client is over the threshold').toBeGreaterThanOrEqual(
      1024,
    );
    expect(encodingOf(created)).toBeUndefined();
    expect(created.headers.vary).toBeUndefined();
    const { clientId, clientSecret } = created.body as { clientId: string; clientSecret: string };
    const token = await postForm(
      http,
      '/oauth/token',
      { grant_type: 'client_credentials' },
      { authorization: basic(clientId, clientSecret), ...asked },
    );
    expect(token.status, token.text).toBe(200);
    expect(Buffer.byteLength(token.text), 'a client token is over the threshold').toBeGreaterThanOrEqual(
      1024,
    );
    expect(encodingOf(token)).toBeUndefined();
    // The list of clients holds no secret: compressed like any list.
    const list = await http.get('/clients?limit=100', { token: admin.accessToken, headers: asked });
    expect(Buffer.byteLength(list.text)).toBeGreaterThanOrEqual(1024);
    expect(encodingOf(list)).toBe('br');
  });

  it('ignores an encoding it does not offer, and a client that refuses all', async () => {
    for (const encoding of ['identity', 'compress', 'br;q=0, gzip;q=0']) {
      const reply = await http.get('/docs/openapi.json', { headers: { 'accept-encoding': encoding } });
      expect(reply.status, encoding).toBe(200);
      expect(encodingOf(reply), encoding).toBeUndefined();
    }
  });
});
