import { request as httpRequest } from 'node:http';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectError, GOOD_PASSWORD, uniqueEmail } from '../support/http.js';
import { nextStep, totpAt, useFakeClock } from '../support/mfa.js';
import { type TestApp, useTestApp } from '../support/test-app.js';
import { assemble, NO_THROTTLE } from '../support/tokens.js';

interface RawReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** One real HTTP request on its own connection: what a browser gets on the wire. */
function send(
  t: TestApp,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<RawReply> {
  const { port } = t.app.getHttpServer().address() as { port: number };
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      { host: '127.0.0.1', port, method, path, headers: { connection: 'close', ...headers }, agent: false },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

const json = { 'content-type': 'application/json' };

/** Every kind of response the service gives: routes, errors of each stage, the router's own, static files. */
const EVERY_KIND: [
  label: string,
  method: string,
  path: string,
  headers?: Record<string, string>,
  body?: string,
][] = [
  ['a 200 of a public route', 'GET', '/health/live'],
  ['a HEAD', 'HEAD', '/health/live'],
  ['a 404 of the router', 'GET', '/no/such/route'],
  ['a 405-like 404 (wrong method)', 'DELETE', '/health/live'],
  ['a 401 (no token)', 'GET', '/users/me'],
  ['a 400 (validation)', 'POST', '/auth/signin', json, '{"email":1}'],
  ['a 400 (malformed JSON)', 'POST', '/auth/signin', json, '{'],
  ['a 400 (malformed URL, refused by the router)', 'GET', '/users/%C3%28'],
  ['a 413', 'POST', '/auth/signin', json, JSON.stringify({ email: 'x'.repeat(20_000) })],
  ['a 415', 'POST', '/auth/signin', { 'content-type': 'text/plain' }, 'hello'],
  [
    'a preflight (OPTIONS) from a trusted origin',
    'OPTIONS',
    '/users/me',
    {
      origin: 'https://app.example.com',
      'access-control-request-method': 'GET',
    },
  ],
  [
    'a preflight from another origin',
    'OPTIONS',
    '/users/me',
    {
      origin: 'https://evil.example.net',
      'access-control-request-method': 'GET',
    },
  ],
  ['the documentation page', 'GET', '/docs'],
  ['a documentation script (static file)', 'GET', '/docs/swagger-ui-bundle.js'],
  ['the OpenAPI document', 'GET', '/docs/openapi.json'],
  ['the JWKS', 'GET', '/.well-known/jwks.json'],
  ['the metrics', 'GET', '/metrics'],
  ['a compressed response', 'GET', '/docs/openapi.json', { 'accept-encoding': 'gzip' }],
];

describe('security headers (https PUBLIC_URL)', () => {
  useFakeClock();
  const { t, http } = useTestApp({
    ...NO_THROTTLE,
    PUBLIC_URL: 'https://auth.example.com',
    CORS_ORIGINS: 'https://app.example.com',
  });
  beforeAllListen(() => t);

  it.each(EVERY_KIND)(
    '%s carries nosniff, no-referrer, DENY and HSTS',
    async (_label, method, path, headers, body) => {
      const reply = await send(t, method, path, headers, body);
      expect(reply.status).toBeGreaterThan(0);
      expect(reply.headers['x-content-type-options']).toBe('nosniff');
      expect(reply.headers['referrer-policy']).toBe('no-referrer');
      expect(reply.headers['x-frame-options']).toBe('DENY');
      expect(reply.headers['strict-transport-security']).toBe('max-age=31536000');
    },
  );

  it('the statuses above are the kinds they claim to be', async () => {
    const statuses = await Promise.all(
      EVERY_KIND.map(
        async ([, method, path, headers, body]) => (await send(t, method, path, headers, body)).status,
      ),
    );
    expect(statuses).toEqual([
      200, 200, 404, 404, 401, 400, 400, 400, 413, 415, 204, 404, 200, 200, 200, 200, 200, 200,
    ]);
  });

  it('/docs has a Content-Security-Policy that allows no inline script; API answers are not framed either', async () => {
    for (const path of ['/docs', '/docs/', '/docs/swagger-ui-init.js']) {
      const reply = await send(t, 'GET', path);
      const policy = String(reply.headers['content-security-policy']);
      const scripts = /(?:^|;\s*)script-src ([^;]*)/.exec(policy)?.[1];
      expect(scripts, path).toBe("'self'");
      expect(policy).not.toContain('unsafe-eval');
      expect(policy).toContain("default-src 'none'");
      expect(policy).toContain("frame-ancestors 'none'");
      expect(policy).toContain("base-uri 'none'");
    }
    // The page's initializer is a file (no inline script to allow), and the page loads it.
    const page = await send(t, 'GET', '/docs');
    expect(page.text).toContain('swagger-ui-init.js');
    expect(page.text.match(/<script(?![^>]*\bsrc=)[^>]*>/g) ?? []).toEqual([]);
  });

  it('Cache-Control: no-store on every token response, MFA secret and recovery codes, and /users/me', async () => {
    const email = uniqueEmail();
    const signup = await http.post('/auth/signup', { body: { email, password: GOOD_PASSWORD } });
    const signin = await http.post('/auth/signin', { body: { email, password: GOOD_PASSWORD } });
    const refresh = await http.post('/auth/refresh', { body: { refreshToken: signin.body.refreshToken } });
    const me = await http.get('/users/me', { token: refresh.body.accessToken });
    for (const reply of [signup, signin, refresh, me]) {
      expect(reply.status, reply.text).toBeLessThan(300);
      expect(reply.headers['cache-control']).toBe('no-store');
    }
    const enrol = await http.post('/auth/mfa/totp', {
      token: signup.body.accessToken,
      body: { currentPassword: GOOD_PASSWORD },
    });
    expect(enrol.headers['cache-control']).toBe('no-store');
    const confirm = await http.post('/auth/mfa/totp/confirm', {
      token: signup.body.accessToken,
      body: { code: totpAt(enrol.body.secret, nextStep()) },
    });
    expect(confirm.status, confirm.text).toBe(200);
    expect(confirm.headers['cache-control']).toBe('no-store');
    const mfaSignin = await http.post('/auth/signin', { body: { email, password: GOOD_PASSWORD } });
    expect(mfaSignin.headers['cache-control']).toBe('no-store');
    const second = await http.post('/auth/signin/mfa', {
      body: { mfaToken: mfaSignin.body.mfaToken, code: totpAt(enrol.body.secret, nextStep()) },
    });
    expect(second.status, second.text).toBe(200);
    expect(second.headers['cache-control']).toBe('no-store');
    const codes = await http.post('/auth/mfa/recovery-codes', {
      token: second.body.accessToken,
      body: { code: totpAt(enrol.body.secret, nextStep()) },
    });
    expect(codes.status, codes.text).toBe(200);
    expect(codes.headers['cache-control']).toBe('no-store');
  });

  it('errors are not cached either; what is meant to be cached keeps its own Cache-Control', async () => {
    expect((await http.get('/users/me')).headers['cache-control']).toBe('no-store');
    expect((await http.get('/.well-known/jwks.json')).headers['cache-control']).toMatch(
      /^public, max-age=\d+$/,
    );
    expect((await http.get('/health/ready')).headers['cache-control']).toBe(
      'no-cache, no-store, must-revalidate',
    );
  });
});

describe('security headers (http PUBLIC_URL)', () => {
  const { t } = useTestApp({ PUBLIC_URL: 'http://localhost:3000' });
  beforeAllListen(() => t);

  it('sends no HSTS over plain http, and the other headers as ever', async () => {
    for (const path of ['/health/live', '/nothing-here', '/docs']) {
      const reply = await send(t, 'GET', path);
      expect(reply.headers['strict-transport-security']).toBeUndefined();
      expect(reply.headers['x-content-type-options']).toBe('nosniff');
      expect(reply.headers['x-frame-options']).toBe('DENY');
      expect(reply.headers['referrer-policy']).toBe('no-referrer');
    }
  });
});

describe('WWW-Authenticate on 401 (RFC 6750)', () => {
  const { http } = useTestApp(NO_THROTTLE);

  it('no token presented: a bare Bearer challenge, no error', async () => {
    const reply = await http.get('/users/me');
    expectError(reply, 401, 'missing_token');
    expect(reply.headers['www-authenticate']).toBe('Bearer realm="gatehouse"');
  });

  it('a password or MFA refusal is not a token refusal: a bare challenge', async () => {
    const reply = await http.post('/auth/signin', {
      body: { email: uniqueEmail(), password: 'wrong password' },
    });
    expectError(reply, 401, 'invalid_credentials');
    expect(reply.headers['www-authenticate']).toBe('Bearer realm="gatehouse"');
  });

  it('a refused token: error="invalid_token" with a description that never holds the token', async () => {
    const user = await http.signup();
    const forged = assemble({ alg: 'none', typ: 'at+jwt' }, { sub: user.id });
    const cases: [
      string,
      Promise<{ status: number; headers: Record<string, unknown>; body: any }>,
      string,
    ][] = [
      ['garbage', http.get('/users/me', { token: 'not-a-jwt' }), 'invalid_token'],
      ['forged', http.get('/users/me', { token: forged }), 'invalid_token'],
      [
        'not Bearer',
        http.get('/users/me', { headers: { authorization: 'Basic Zm9vOmJhcg==' } }),
        'invalid_token',
      ],
      [
        'a refresh token as access token',
        http.get('/users/me', { token: user.refreshToken }),
        'invalid_token',
      ],
      [
        'an unknown refresh token',
        http.post('/auth/refresh', { body: { refreshToken: 'gh_rt_' + 'A'.repeat(43) } }),
        'invalid_refresh_token',
      ],
    ];
    for (const [label, pending, code] of cases) {
      const reply = await pending;
      expect(reply.status, label).toBe(401);
      expect(reply.body.code, label).toBe(code);
      const challenge = String(reply.headers['www-authenticate']);
      expect(challenge, label).toMatch(
        /^Bearer realm="gatehouse", error="invalid_token", error_description="[^"\\]+"$/,
      );
      expect(challenge).not.toContain('not-a-jwt');
      expect(challenge).not.toContain(forged);
      expect(challenge).not.toContain(user.refreshToken);
    }
  });

  it('a revoked session and a retired refresh token are token refusals too', async () => {
    const user = await http.signup();
    expect((await http.post('/auth/signout', { token: user.accessToken })).status).toBe(204);
    const revoked = await http.get('/users/me', { token: user.accessToken });
    expectError(revoked, 401, 'session_revoked');
    expect(revoked.headers['www-authenticate']).toMatch(/error="invalid_token"/);
    const reused = await http.post('/auth/refresh', { body: { refreshToken: user.refreshToken } });
    expect(reused.status).toBe(401);
    expect(reused.headers['www-authenticate']).toMatch(/error="invalid_token"/);
  });

  it('no other status carries a challenge', async () => {
    const user = await http.signup();
    const forbidden = await http.get('/users', { token: user.accessToken });
    expectError(forbidden, 403, 'forbidden');
    expect(forbidden.headers['www-authenticate']).toBeUndefined();
    expect(
      (await http.get('/users/me', { token: user.accessToken })).headers['www-authenticate'],
    ).toBeUndefined();
  });
});

/** Starts the suite's app listening on a free port (after useTestApp's beforeAll has made it). */
function beforeAllListen(app: () => TestApp): void {
  beforeAll(async () => {
    await app().app.listen(0, '127.0.0.1');
  });
}
