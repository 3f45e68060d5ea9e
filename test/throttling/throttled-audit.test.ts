import { and, eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/app-config.js';
import { auditEvents } from '../../src/database/schema.js';
import { MemoryCounterStore } from '../../src/throttling/counter-store.js';
import { SigninAttemptsService } from '../../src/throttling/signin-attempts.service.js';
import { expectError, uniqueEmail } from '../support/http.js';
import { type TestApp, useTestApp } from '../support/test-app.js';

const WRONG = 'not the right password at all';

async function signin(t: TestApp, email: string, ip: string) {
  const response = await t.app.inject({
    method: 'POST',
    url: '/auth/signin',
    payload: { email, password: WRONG },
    remoteAddress: ip,
  });
  return {
    status: response.statusCode,
    body: JSON.parse(response.body),
    headers: response.headers,
    text: '',
  };
}

describe('a throttled signin is audited once per email, client and window (app, in-memory counters)', () => {
  const { t, http } = useTestApp({ SIGNIN_MAX_FAILURES: '3', RATE_LIMIT_PER_MINUTE: '1000000' });

  const throttledRows = (where: ReturnType<typeof eq>) =>
    t.connection.db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.type, 'throttled'), where));

  it('50 refused attempts in one window write one `throttled` row', async () => {
    const user = await http.signup();
    const ip = '198.51.100.50';
    for (let i = 0; i < 3; i++) expectError(await signin(t, user.email, ip), 401, 'invalid_credentials');
    for (let i = 0; i < 50; i++) {
      const reply = await signin(t, user.email, ip);
      expectError(reply, 429, 'too_many_requests');
      expect(Number(reply.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    }
    const rows = await throttledRows(eq(auditEvents.userId, user.id));
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      ip,
      actorId: null,
      detail: { email: user.email, reason: 'signin_failures' },
    });
  });

  it('50 refused attempts at once write one row too', async () => {
    const user = await http.signup();
    const ip = '198.51.100.51';
    for (let i = 0; i < 3; i++) expectError(await signin(t, user.email, ip), 401, 'invalid_credentials');
    const replies = await Promise.all(Array.from({ length: 50 }, () => signin(t, user.email, ip)));
    for (const reply of replies) expectError(reply, 429, 'too_many_requests');
    expect(await throttledRows(eq(auditEvents.userId, user.id))).toHaveLength(1);
  });

  it('another client throttled on the same email is another key: its own row', async () => {
    const email = uniqueEmail('unknown');
    for (const ip of ['198.51.100.52', '198.51.100.53']) {
      for (let i = 0; i < 3; i++) expectError(await signin(t, email, ip), 401, 'invalid_credentials');
      for (let i = 0; i < 10; i++) expectError(await signin(t, email, ip), 429, 'too_many_requests');
    }
    const rows = await t.connection.db.select().from(auditEvents).where(eq(auditEvents.type, 'throttled'));
    const mine = rows.filter((row) => (row.detail as { email?: string }).email === email);
    expect(mine.map((row) => row.ip).sort()).toEqual(['198.51.100.52', '198.51.100.53']);
  });
});

describe('SigninAttemptsService: the first refusal of a window is the one to audit', () => {
  it('first refusal in the window: yes; the next 49: no; the first of a new window: yes', async () => {
    let now = 0;
    const config = loadConfig({
      DATA_DIR: '/tmp/unused',
      SIGNIN_MAX_FAILURES: '2',
      SIGNIN_FAILURE_WINDOW: '60',
    });
    const attempts = new SigninAttemptsService(config, new MemoryCounterStore({ now: () => now }));
    const fail = async () => {
      const attempt = await attempts.begin('a@x.io', '203.0.113.9');
      if (attempt.throttled) throw new Error('throttled');
      await attempt.failed();
    };
    await fail();
    await fail();

    const firsts: boolean[] = [];
    for (let i = 0; i < 50; i++) {
      now = i * 100; // all within the first window
      const refused = await attempts.begin('a@x.io', '203.0.113.9');
      if (!refused.throttled) throw new Error('not throttled');
      firsts.push(refused.firstInWindow);
    }
    expect(firsts.filter(Boolean)).toHaveLength(1);
    expect(firsts[0]).toBe(true);

    // Another client on the same email: another key.
    const other = await attempts.begin('a@x.io', '203.0.113.10');
    expect(other.throttled).toBe(false);

    // A window later: the failures have aged out; two more fail, and the refusal is a new window's first.
    now = 60_000;
    await fail();
    await fail();
    const again = await attempts.begin('a@x.io', '203.0.113.9');
    expect(again).toMatchObject({ throttled: true, firstInWindow: true });
    const next = await attempts.begin('a@x.io', '203.0.113.9');
    expect(next).toMatchObject({ throttled: true, firstInWindow: false });
  });
});
