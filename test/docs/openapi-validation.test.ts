import { describe, expect, it } from 'vitest';
import { responseProblems } from '../support/openapi-validation.js';
import { useTestApp } from '../support/test-app.js';

/** The harness that holds every end-to-end response to the document must itself catch a mismatch. */
describe('the response validation harness', () => {
  const { t } = useTestApp();
  const ID = { 'x-request-id': 'r1', 'cache-control': 'no-store' };
  const user = {
    id: '0192f5e4-7c1a-7d3e-9b2a-4f6c8d0e1a2b',
    email: 'ada@example.com',
    emailVerified: true,
    roles: ['user'],
    mfaEnabled: false,
    createdAt: '2026-01-05T09:30:00.000Z',
    updatedAt: '2026-01-05T09:30:00.000Z',
  };
  const json = (body: unknown, headers: Record<string, string> = ID) => ({
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers } as Record<string, string>,
    text: JSON.stringify(body),
    body,
  });
  const check = (method: string, url: string, status: number, reply: ReturnType<typeof json>) =>
    responseProblems(t.app, method, url, { status, ...reply });

  it('passes a response as documented', async () => {
    expect((await check('GET', '/users/me', 200, json(user))).problems).toEqual([]);
    expect(
      (
        await check('POST', '/auth/signout', 204, {
          headers: { ...ID, 'set-cookie': 'gh_refresh=; Max-Age=0' },
          text: '',
          body: undefined,
        })
      ).problems,
    ).toEqual([]);
  });

  it('ignores what the document does not describe (HEAD, unknown paths)', async () => {
    expect((await check('HEAD', '/users/me', 418, json('x', {}))).problems).toEqual([]);
    expect((await check('GET', '/nowhere', 418, json('x', {}))).problems).toEqual([]);
  });

  it.each([
    ['an undocumented status', 'GET', '/users/me', 418, json(user), /status 418 is not documented/],
    [
      'a missing field',
      'GET',
      '/users/me',
      200,
      json({ ...user, email: undefined }),
      /required property 'email'/,
    ],
    ['an undocumented field', 'GET', '/users/me', 200, json({ ...user, passwordHash: 'x' }), /additional/],
    ['a wrong type', 'GET', '/users/me', 200, json({ ...user, roles: 'admin' }), /must be array/],
    ['a missing X-Request-Id', 'GET', '/users/me', 200, json(user, {}), /x-request-id is missing/],
    [
      'an undocumented Link header',
      'GET',
      '/users/me',
      200,
      json(user, { ...ID, link: '<x>' }),
      /link is sent/,
    ],
    ['a body on a 204', 'POST', '/auth/signout', 204, json({}), /a body .* where none is documented/],
    [
      'an undocumented Set-Cookie',
      'GET',
      '/users/me',
      200,
      json(user, { ...ID, 'set-cookie': 'a=b' }),
      /set-cookie is sent/,
    ],
    [
      'a 401 without its challenge',
      'GET',
      '/users/me',
      401,
      json({ statusCode: 401, error: 'Unauthorized', code: 'missing_token', message: 'm' }),
      /www-authenticate is missing/,
    ],
    [
      'a missing Cache-Control',
      'GET',
      '/users/me',
      200,
      json(user, { 'x-request-id': 'r1' }),
      /cache-control is missing/,
    ],
    [
      'an error code the status does not list',
      'GET',
      '/users/me',
      401,
      json({ statusCode: 401, error: 'Unauthorized', code: 'forbidden', message: 'm' }),
      /allowed values/,
    ],
    [
      'a non-integer Retry-After',
      'POST',
      '/auth/signin',
      429,
      json(
        { statusCode: 429, error: 'Too Many Requests', code: 'too_many_requests', message: 'm' },
        { ...ID, 'retry-after': 'soon' },
      ),
      /retry-after: soon is not an integer/,
    ],
    [
      'a missing Retry-After on a 429',
      'POST',
      '/auth/signin',
      429,
      json({ statusCode: 429, error: 'Too Many Requests', code: 'too_many_requests', message: 'm' }),
      /retry-after is missing/,
    ],
    [
      'text where JSON is documented',
      'GET',
      '/users/me',
      200,
      { headers: { ...ID, 'content-type': 'text/plain' }, text: 'hi', body: 'hi' },
      /content type text\/plain is not documented/,
    ],
  ] as const)('flags %s', async (_, method, url, status, reply, problem) => {
    const { problems } = await check(method, url, status, reply);
    expect(problems.join('\n')).toMatch(problem);
  });
});
