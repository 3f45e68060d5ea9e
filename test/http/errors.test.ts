import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { expectError, GOOD_PASSWORD, Http, type Reply, uniqueEmail } from '../support/http.js';
import { createTestApp, useTestApp } from '../support/test-app.js';

const JSON_TYPE = { 'content-type': 'application/json' };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Stack frames, source locations and file paths: none may reach a client. */
const LEAK_PATTERNS = [
  /\bat [\w.<>$]+ \(/, // "at fn (" stack frame
  /^\s*at /m,
  /\.[jt]s:\d+/, // file.js:12
  /file:\/\//,
  /node_modules/,
  /\/work\/|\/home\/|\/tmp\//,
  /\b(?:TypeError|ReferenceError|SyntaxError)\b/,
];

function expectNoLeak(reply: Reply): void {
  for (const pattern of LEAK_PATTERNS) expect(reply.text, `${pattern} in ${reply.text}`).not.toMatch(pattern);
}

/** The contract's error shape, and nothing else. */
function expectErrorShape(reply: Reply, status: number, code: string): void {
  expectError(reply, status, code);
  const allowed = ['statusCode', 'error', 'code', 'message', 'errors'];
  expect(Object.keys(reply.body).filter((key) => !allowed.includes(key))).toEqual([]);
  expect(reply.headers['content-type']).toMatch(/^application\/json/);
  expectNoLeak(reply);
}

describe('HTTP errors', () => {
  const { t, http } = useTestApp();

  describe('request bodies', () => {
    it('answers malformed JSON with 400 validation_failed in the error shape', async () => {
      const reply = await http.post('/auth/signup', { payload: '{"email": "a@b.io",', headers: JSON_TYPE });
      expectErrorShape(reply, 400, 'validation_failed');
      expect(reply.body.statusCode).toBe(400);
      expect(reply.body.error).toBe('Bad Request');
    });

    it('does not echo a malformed body (which may hold a password) in the error', async () => {
      for (const payload of [
        '{"email":"a@b.io","password":"Sup3r-Secret-Value"',
        '{"email":"a@b.io","password":"Sup3r-Secret-Value" x}',
        "{'password':'Sup3r-Secret-Value'}",
      ]) {
        const reply = await http.post('/auth/signin', { payload, headers: JSON_TYPE });
        expectErrorShape(reply, 400, 'validation_failed');
        expect(reply.text).not.toContain('Sup3r-Secret-Value');
      }
    });

    it.each([
      ['text/plain', '{"email":"a@b.io","password":"correct horse battery staple"}'],
      ['text/plain', 'hello'],
      ['application/x-www-form-urlencoded', 'email=a%40b.io&password=correct+horse'],
      ['application/xml', '<signup/>'],
      [
        'multipart/form-data; boundary=x',
        '--x\r\nContent-Disposition: form-data; name="a"\r\n\r\nb\r\n--x--',
      ],
    ])('answers a %s body with 415 unsupported_media_type', async (type, payload) => {
      const reply = await http.post('/auth/signup', { payload, headers: { 'content-type': type } });
      expectErrorShape(reply, 415, 'unsupported_media_type');
    });

    it('answers a body without Content-Type with 415 unsupported_media_type', async () => {
      const reply = await http.post('/auth/signup', { payload: 'email=a%40b.io' });
      expectErrorShape(reply, 415, 'unsupported_media_type');
    });

    it('accepts application/json with a charset', async () => {
      const reply = await http.post('/auth/signup', {
        payload: JSON.stringify({ email: uniqueEmail(), password: GOOD_PASSWORD }),
        headers: { 'content-type': 'application/json; charset=utf-8' },
      });
      expect(reply.status, reply.text).toBe(201);
    });

    /** A JSON signup body of exactly `bytes` bytes. */
    const bodyOfSize = (bytes: number): string => {
      const empty = JSON.stringify({ email: 'a@b.io', password: '' });
      return JSON.stringify({ email: 'a@b.io', password: 'x'.repeat(bytes - empty.length) });
    };

    it('answers a body over 16 KiB with 413 payload_too_large', async () => {
      const payload = bodyOfSize(16 * 1024 + 1);
      expect(Buffer.byteLength(payload)).toBe(16 * 1024 + 1);
      const reply = await http.post('/auth/signup', { payload, headers: JSON_TYPE });
      expectErrorShape(reply, 413, 'payload_too_large');
      expect(reply.body.error).toBe('Payload Too Large');
    });

    it('reads a body of exactly 16 KiB (then validates it: the password is too long)', async () => {
      const reply = await http.post('/auth/signup', { payload: bodyOfSize(16 * 1024), headers: JSON_TYPE });
      expectErrorShape(reply, 400, 'validation_failed');
    });

    it('answers 413 on a large body even without a token on a protected route', async () => {
      const reply = await http.post('/auth/password', { payload: bodyOfSize(64 * 1024), headers: JSON_TYPE });
      expectErrorShape(reply, 413, 'payload_too_large');
    });

    it.each([
      [
        '__proto__',
        '{"email":"a@b.io","password":"correct horse battery staple","__proto__":{"polluted":1}}',
      ],
      ['nested __proto__', '{"email":"a@b.io","password":"x","extra":{"__proto__":{"polluted":1}}}'],
      [
        'constructor.prototype',
        '{"email":"a@b.io","password":"correct horse battery staple","constructor":{"prototype":{"polluted":1}}}',
      ],
    ])('refuses a %s payload with 400 and pollutes nothing', async (_, payload) => {
      const reply = await http.post('/auth/signup', { payload, headers: JSON_TYPE });
      expectErrorShape(reply, 400, 'validation_failed');
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(Object.prototype).not.toHaveProperty('polluted');
      // And the service still works.
      await http.signup();
    });

    it('accepts an empty body with Content-Type JSON on POST /auth/signout (204 with a token)', async () => {
      const user = await http.signup();
      const reply = await http.post('/auth/signout', {
        token: user.accessToken,
        payload: '',
        headers: JSON_TYPE,
      });
      expect(reply.status, reply.text).toBe(204);
      expect(reply.text).toBe('');
      // It did sign out.
      expectErrorShape(await http.get('/users/me', { token: user.accessToken }), 401, 'session_revoked');
    });

    it('treats a whitespace-only JSON body as no body', async () => {
      const user = await http.signup();
      const reply = await http.post('/auth/signout', {
        token: user.accessToken,
        payload: ' \n ',
        headers: JSON_TYPE,
      });
      expect(reply.status, reply.text).toBe(204);
    });

    it('a required body that is empty is a validation failure, not a crash', async () => {
      const reply = await http.post('/auth/signup', { payload: '', headers: JSON_TYPE });
      expectErrorShape(reply, 400, 'validation_failed');
    });
  });

  describe('validation errors', () => {
    it('carry errors: [{ field, message }], one per problem', async () => {
      const reply = await http.post('/auth/signup', {
        body: { email: 'not-an-email', password: 12345678, role: 'admin' },
      });
      expectErrorShape(reply, 400, 'validation_failed');
      expect(reply.body.message).toEqual(expect.any(String));
      expect(reply.body.errors).toEqual(
        expect.arrayContaining([
          { field: 'email', message: expect.any(String) },
          { field: 'password', message: expect.any(String) },
          { field: 'role', message: expect.any(String) },
        ]),
      );
      for (const entry of reply.body.errors) expect(Object.keys(entry).sort()).toEqual(['field', 'message']);
    });

    it('name a missing field', async () => {
      const reply = await http.post('/auth/signin', { body: { email: 'a@b.io' } });
      expectErrorShape(reply, 400, 'validation_failed');
      expect(reply.body.errors).toEqual([{ field: 'password', message: expect.any(String) }]);
    });

    it('never echo the password that failed the policy', async () => {
      const reply = await http.post('/auth/signup', { body: { email: uniqueEmail(), password: 'Pw-7x!' } });
      expectErrorShape(reply, 400, 'validation_failed');
      expect(reply.text).not.toContain('Pw-7x!');
    });
  });

  describe('routing', () => {
    it('answers an unknown route with 404 not_found', async () => {
      for (const url of ['/nope', '/auth/nope', '/users/me/extra', '/.well-known/other.json']) {
        const reply = await http.get(url);
        expectErrorShape(reply, 404, 'not_found');
        expect(reply.body.error).toBe('Not Found');
      }
      expectErrorShape(await http.post('/nope', { body: { a: 1 } }), 404, 'not_found');
    });

    // Fastify (and so this service) does not distinguish "no such method on this
    // path" from "no such path": a wrong method is a 404 not_found, never a 405.
    it('answers a wrong method on a known path with 404 not_found', async () => {
      expectErrorShape(await http.get('/auth/signup'), 404, 'not_found');
      expectErrorShape(await http.request('PUT', '/users/me', { body: {} }), 404, 'not_found');
      expectErrorShape(await http.delete('/auth/signout'), 404, 'not_found');
      expectErrorShape(await http.patch('/auth/signin', { body: {} }), 404, 'not_found');
      expectErrorShape(await http.post('/health/live'), 404, 'not_found');
    });
  });

  describe('request id', () => {
    it('echoes a valid incoming X-Request-Id and logs it with the request', async () => {
      const id = `trace-${Date.now()}.a:b/c@d+e=f`;
      const reply = await http.get('/health/live', { headers: { 'x-request-id': id } });
      expect(reply.status).toBe(200);
      expect(reply.headers['x-request-id']).toBe(id);
      const lines = t.logs.filter((line) => line.requestId === id);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ method: 'GET', route: '/health/live', statusCode: 200 });
    });

    it('generates an id when none is sent, and returns it on errors too', async () => {
      const ok = await http.get('/health/live');
      expect(ok.headers['x-request-id']).toMatch(UUID);
      const notFound = await http.get('/nope');
      expect(notFound.headers['x-request-id']).toMatch(UUID);
      expect(notFound.headers['x-request-id']).not.toBe(ok.headers['x-request-id']);
      const tooLarge = await http.post('/auth/signup', { payload: 'x'.repeat(20_000), headers: JSON_TYPE });
      expect(tooLarge.headers['x-request-id']).toMatch(UUID);
    });

    it.each([
      ['too long', 'a'.repeat(129)],
      ['with spaces', 'has spaces in it'],
      ['with a newline escape', 'abc\\nlevel=fatal'],
      ['with quotes', '"};drop'],
      ['empty', ''],
    ])('replaces an invalid one (%s) with a generated id', async (_, id) => {
      const reply = await http.get('/health/live', { headers: { 'x-request-id': id } });
      expect(reply.headers['x-request-id']).toMatch(UUID);
      expect(t.logs.some((line) => line.requestId === id)).toBe(false);
    });

    it('keeps one of 128 characters, the longest allowed', async () => {
      const id = 'b'.repeat(128);
      const reply = await http.get('/health/live', { headers: { 'x-request-id': id } });
      expect(reply.headers['x-request-id']).toBe(id);
    });
  });

  describe('request logging', () => {
    it('writes one JSON line per request with method, route, statusCode, durationMs and requestId', async () => {
      const user = await http.signup();
      const requests: [string, () => Promise<Reply>, string, number][] = [
        [
          'live',
          () => http.get('/health/live', { headers: { 'x-request-id': 'log-live' } }),
          '/health/live',
          200,
        ],
        [
          'me',
          () => http.get('/users/me', { token: user.accessToken, headers: { 'x-request-id': 'log-me' } }),
          '/users/me',
          200,
        ],
        [
          'bad',
          () => http.post('/auth/signin', { body: {}, headers: { 'x-request-id': 'log-bad' } }),
          '/auth/signin',
          400,
        ],
        [
          'unknown',
          () => http.get('/nope?secret=1', { headers: { 'x-request-id': 'log-unknown' } }),
          '',
          404,
        ],
      ];
      for (const [name, send, route, status] of requests) {
        const reply = await send();
        expect(reply.status, name).toBe(status);
        const lines = t.logs.filter((line) => line.requestId === `log-${name}`);
        expect(lines, name).toHaveLength(1);
        const line = lines[0]!;
        expect(line).toMatchObject({ msg: 'request', statusCode: status, requestId: `log-${name}` });
        expect(typeof line.method).toBe('string');
        expect(typeof line.route).toBe('string');
        if (route) expect(line.route).toBe(route);
        expect(typeof line.durationMs).toBe('number');
        expect(line.durationMs as number).toBeGreaterThanOrEqual(0);
        expect(typeof line.time).toBe('string');
      }
      // The query string is not logged.
      expect(t.rawLogs()).not.toContain('secret=1');
    });

    it('logs no Authorization header, body, password, token or email', async () => {
      const email = uniqueEmail('logcheck');
      const user = await http.signup(email);
      const signin = await http.signin(email);
      await http.get('/users/me', { token: signin.accessToken });
      await http.get('/users/me', { token: 'not.a.valid-token' });
      const refreshed = await http.post('/auth/refresh', { body: { refreshToken: signin.refreshToken } });
      expect(refreshed.status).toBe(200);
      await http.post('/auth/refresh', { token: refreshed.body.refreshToken });
      const newPassword = 'another long passphrase 42';
      const change = await http.post('/auth/password', {
        token: user.accessToken,
        body: { currentPassword: GOOD_PASSWORD, newPassword },
      });
      expect(change.status, change.text).toBe(204);
      await http.post('/auth/signin', { body: { email, password: 'wrong password entirely' } });

      const raw = t.rawLogs();
      for (const secret of [
        GOOD_PASSWORD,
        newPassword,
        'wrong password entirely',
        user.accessToken,
        user.refreshToken,
        signin.accessToken,
        signin.refreshToken,
        refreshed.body.refreshToken,
        refreshed.body.accessToken,
        'not.a.valid-token',
        email,
      ]) {
        expect(raw, `log contains ${secret}`).not.toContain(secret);
      }
      expect(raw).not.toMatch(/bearer /i);
      expect(raw).not.toMatch(/"authorization"/i);
      expect(raw).not.toMatch(/"(body|headers|payload)"/);
    });
  });
});

describe('HTTP errors: unexpected failures', () => {
  it('gives 500 internal_error with a generic message; the detail goes to the log with the request id', async () => {
    const t = await createTestApp();
    try {
      const http = new Http(t.app);
      const user = await http.signup();
      // A real, unforeseen failure: the users table is gone from under the service.
      await t.connection.db.execute(sql`alter table users rename to users_moved_away`);

      const reply = await http.post('/auth/signin', {
        body: { email: user.email, password: user.password },
        headers: { 'x-request-id': 'boom-1' },
      });
      expectErrorShape(reply, 500, 'internal_error');
      expect(reply.body).toEqual({
        statusCode: 500,
        error: 'Internal Server Error',
        code: 'internal_error',
        message: 'Internal server error',
      });
      expect(reply.text).not.toContain('users');
      expect(reply.text).not.toMatch(/select|relation|query/i);
      expect(reply.headers['x-request-id']).toBe('boom-1');

      const errorLines = t.logs.filter(
        (line) => (line.level as number) >= 50 && JSON.stringify(line).includes('boom-1'),
      );
      expect(errorLines).toHaveLength(1);
      const detail = JSON.stringify(errorLines[0]);
      expect(detail).toMatch(/users/);
      expect(detail).toMatch(/does not exist/);
      // The failed query's parameters (the email) stay out of the log.
      expect(t.rawLogs()).not.toContain(user.email);
      expect(t.rawLogs()).not.toContain(user.password);
      // The error line and the request line, both carrying the request id.
      expect(t.logs.filter((line) => line.requestId === 'boom-1')).toEqual([
        expect.objectContaining({ msg: 'request failed', statusCode: 500 }),
        expect.objectContaining({ msg: 'request', statusCode: 500, route: '/auth/signin' }),
      ]);
    } finally {
      await t.close();
    }
  });

  it("writes a failure's detail to the app's own logger, even when another app was created after it", async () => {
    const first = await createTestApp();
    const second = await createTestApp();
    try {
      await first.connection.close();
      const reply = await new Http(first.app).post('/auth/signin', {
        body: { email: uniqueEmail(), password: GOOD_PASSWORD },
        headers: { 'x-request-id': 'whose-log' },
      });
      expectErrorShape(reply, 503, 'unavailable');
      const mentions = (logs: Record<string, unknown>[]) =>
        logs.filter((line) => (line.level as number) >= 40 && JSON.stringify(line).includes('whose-log'));
      expect(mentions(second.logs)).toEqual([]);
      expect(mentions(first.logs)).toHaveLength(1);
    } finally {
      await second.close();
      await first.close();
    }
  });

  it('answers 503 unavailable (with Retry-After) once the database is closed, leaking nothing', async () => {
    const t = await createTestApp();
    try {
      const http = new Http(t.app);
      const user = await http.signup();
      await t.connection.close();

      const signin = await http.post('/auth/signin', {
        body: { email: user.email, password: user.password },
        headers: { 'x-request-id': 'down-1' },
      });
      expectErrorShape(signin, 503, 'unavailable');
      expect(signin.headers['retry-after']).toBe('5');
      expect(signin.text).not.toMatch(/pool|closed|select/i);

      const signup = await http.post('/auth/signup', {
        body: { email: uniqueEmail(), password: GOOD_PASSWORD },
      });
      expectErrorShape(signup, 503, 'unavailable');

      // One warning with the reason, no stack trace: an outage answers every request so.
      const lines = t.logs.filter(
        (line) => (line.level as number) >= 40 && JSON.stringify(line).includes('down-1'),
      );
      expect(lines).toHaveLength(1);
      expect(lines[0]!.level).toBe(40);
      expect(String(lines[0]!.reason)).toMatch(/Cannot use a pool after calling end/);
      expect(JSON.stringify(lines[0])).not.toMatch(/\s+at /);
    } finally {
      await t.close();
    }
  });
});
