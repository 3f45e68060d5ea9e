import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { collectPages, nextLink } from '../support/admin.js';
import { expectError } from '../support/http.js';
import { useTestApp } from '../support/test-app.js';
import { b64url, decodeJwt, NO_THROTTLE } from '../support/tokens.js';

const sidOf = (accessToken: string): string => decodeJwt(accessToken).payload.sid;
const LIMIT = 3;

describe('MAX_SESSIONS_PER_USER and paging of GET /auth/sessions', () => {
  const { t, http } = useTestApp({ ...NO_THROTTLE, MAX_SESSIONS_PER_USER: String(LIMIT) });

  async function rows<T>(query: ReturnType<typeof sql>): Promise<T[]> {
    const result: unknown = await t.connection.db.execute(query);
    return (result as { rows: T[] }).rows;
  }

  const liveSessions = (userId: string) =>
    rows<{ n: number }>(
      sql`select count(*)::int as n from sessions where user_id = ${userId} and revoked_at is null`,
    ).then((r) => r[0]!.n);

  it('a signin beyond the limit ends the least recently used session: tokens dead, audited', async () => {
    const first = await http.signup();
    const second = await http.signin(first.email);
    const third = await http.signin(first.email);
    // The first session is used again (a refresh): the second is now the least recently used.
    const refreshed = await http.post('/auth/refresh', { body: { refreshToken: first.refreshToken } });
    expect(refreshed.status, refreshed.text).toBe(200);
    // Cached on this instance before it ends: the revocation must reach the cache.
    expect((await http.get('/users/me', { token: second.accessToken })).status).toBe(200);

    const fourth = await http.signin(first.email);

    expectError(await http.get('/users/me', { token: second.accessToken }), 401, 'session_revoked');
    expectError(
      await http.post('/auth/refresh', { body: { refreshToken: second.refreshToken } }),
      401,
      'invalid_refresh_token',
    );
    for (const alive of [first, third, fourth]) {
      expect((await http.get('/users/me', { token: alive.accessToken })).status).toBe(200);
    }
    const listed = await http.get('/auth/sessions', { token: fourth.accessToken });
    expect(listed.status, listed.text).toBe(200);
    expect(listed.body.map((s: { id: string }) => s.id).sort()).toEqual(
      [first, third, fourth].map((s) => sidOf(s.accessToken)).sort(),
    );

    const audit = await rows<{ actor_id: string | null; detail: Record<string, unknown> }>(
      sql`select actor_id, detail from audit_events where type = 'session_revoked' and user_id = ${first.id}`,
    );
    expect(audit).toHaveLength(1);
    expect(audit[0]!.actor_id).toBeNull(); // the service acted, not the user
    expect(audit[0]!.detail).toMatchObject({
      sessionId: sidOf(second.accessToken),
      reason: 'session_limit',
      limit: LIMIT,
      newSessionId: sidOf(fourth.accessToken),
    });
    const [stored] = await rows<{ revoked_reason: string }>(
      sql`select revoked_reason from sessions where id = ${sidOf(second.accessToken)}`,
    );
    expect(stored!.revoked_reason).toBe('session_limit');
  });

  it('concurrent signins never leave more live sessions than the limit', async () => {
    const user = await http.signup();
    const replies = await Promise.all(
      Array.from({ length: 24 }, () =>
        http.post('/auth/signin', { body: { email: user.email, password: user.password } }),
      ),
    );
    for (const reply of replies) expect(reply.status, reply.text).toBe(200);
    expect(await liveSessions(user.id)).toBe(LIMIT);
    const ended = await rows<{ n: number }>(
      sql`select count(*)::int as n from audit_events
          where type = 'session_revoked' and user_id = ${user.id} and detail->>'reason' = 'session_limit'`,
    );
    expect(ended[0]!.n).toBe(1 + 24 - LIMIT);
  });

  it('pages with limit and Link: every session exactly once, newest first; a JSON array', async () => {
    // More sessions than one page, inserted directly (the limit of this app is 3).
    const user = await http.signup();
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      const id = randomUUID();
      ids.push(id);
      // Two rows in one millisecond: ties are ordered by id, never skipped.
      const at = `2030-01-01T00:00:0${Math.floor(i / 2)}.000Z`;
      await t.connection.db.execute(
        sql`insert into sessions (id, user_id, created_at, last_used_at, expires_at)
            values (${id}, ${user.id}, ${at}, now(), now() + interval '1 day')`,
      );
    }
    // Revoked and idle-expired sessions are not listed.
    await t.connection.db.execute(
      sql`insert into sessions (id, user_id, created_at, last_used_at, expires_at, revoked_at)
          values (${randomUUID()}, ${user.id}, now(), now(), now() + interval '1 day', now()),
                 (${randomUUID()}, ${user.id}, now(), now() - interval '8 days', now() + interval '1 day', null)`,
    );
    const expected = await rows<{ id: string }>(
      sql`select id from sessions where user_id = ${user.id} and revoked_at is null
          and last_used_at > now() - interval '7 days' order by created_at desc, id desc`,
    );
    expect(expected).toHaveLength(8);

    const { pages, links } = await collectPages(http, '/auth/sessions?limit=3', user.accessToken);
    expect(pages.map((p) => p.length)).toEqual([3, 3, 2]);
    expect(pages.flat().map((s: { id: string }) => s.id)).toEqual(expected.map((r) => r.id));
    expect(pages.flat().filter((s: { current: boolean }) => s.current)).toHaveLength(1);
    for (const link of links) {
      expect(link).toMatch(/^\/auth\/sessions\?limit=3&cursor=[A-Za-z0-9_-]+$/);
    }
    // Default limit is 50; one page, no Link.
    const all = await http.get('/auth/sessions', { token: user.accessToken });
    expect(all.body).toHaveLength(8);
    expect(nextLink(all)).toBeUndefined();
  });

  it('rejects bad limits, cursors and unknown parameters with 400', async () => {
    const user = await http.signup();
    for (const query of [
      '?limit=0',
      '?limit=101',
      '?limit=abc',
      '?cursor=garbage',
      `?cursor=${b64url('2020-13-45T00:00:00.000Z|' + randomUUID())}`,
      '?foo=1',
    ]) {
      expectError(
        await http.get(`/auth/sessions${query}`, { token: user.accessToken }),
        400,
        'validation_failed',
      );
    }
  });

  it('documents limit and cursor in OpenAPI', async () => {
    const doc = await http.get('/docs/openapi.json');
    expect(doc.status).toBe(200);
    const params = (doc.body.paths['/auth/sessions'].get.parameters ?? []) as { name: string; in: string }[];
    expect(
      params
        .filter((p) => p.in === 'query')
        .map((p) => p.name)
        .sort(),
    ).toEqual(['cursor', 'limit']);
  });
});
