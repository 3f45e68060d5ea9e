import { readFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildService, freePort, killAll, ServiceProcess } from '../support/process.js';
import { describeWithPostgresAndRedis } from '../support/server-suites.js';
import { createPostgresDatabase, REDIS_URL } from '../support/services.js';

const PASSWORD = 'correct horse battery staple';
const journal = JSON.parse(
  readFileSync(new URL('../../drizzle/meta/_journal.json', import.meta.url), 'utf8'),
) as {
  entries: unknown[];
};

/** Polls until `check` holds (bounded): waiting for an event, not a sleep. */
async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < timeoutMs) {
    if (await check()) return performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`condition not met within ${timeoutMs} ms`);
}

async function json(response: Response): Promise<any> {
  return response.json();
}

/**
 * Two Gatehouse processes on different ports behind no balancer, sharing one
 * PostgreSQL database and one Redis: what a team with N instances runs.
 */
describeWithPostgresAndRedis('a cluster of two instances (real processes)', { timeout: 180_000 }, () => {
  let database: { url: string; drop: () => Promise<void> };
  let a: ServiceProcess;
  let b: ServiceProcess;
  const delays: Record<string, number> = {};

  beforeAll(async () => {
    buildService();
    database = await createPostgresDatabase();
    const env = {
      DATABASE_URL: database.url,
      REDIS_URL,
      REDIS_KEY_PREFIX: `gatehouse-test:${process.pid}:${Date.now()}:`,
      KEY_ENCRYPTION_SECRET: 'cluster-test-secret-0123456789abcdef0123',
      LOG_LEVEL: 'warn',
      // One public URL (the tokens' issuer) for the instances on their two ports, as behind a load balancer.
      PUBLIC_URL: 'https://gatehouse.test',
      // Limits shared through Redis; the per-minute one high, so that concurrent runs on
      // this machine (all from 127.0.0.1) cannot trip each other.
      RATE_LIMIT_PER_MINUTE: '100000',
      SIGNIN_MAX_FAILURES: '3',
    };
    // Started together on an empty database: they must migrate exactly once and share one key.
    a = new ServiceProcess(await freePort(), env);
    b = new ServiceProcess(await freePort(), env);
    await Promise.all([a.waitFor(), b.waitFor()]);
  }, 120_000);

  afterAll(async () => {
    console.log('cluster: change on A seen by B after (ms):', delays);
    await killAll();
    await database?.drop();
  });

  async function signup(via: ServiceProcess, email = `u${Math.random().toString(36).slice(2)}@example.com`) {
    const response = await via.fetch('/auth/signup', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password: PASSWORD }),
    });
    expect(response.status).toBe(201);
    return { email, ...(await json(response)) } as { email: string; id: string; accessToken: string };
  }

  const me = (via: ServiceProcess, token: string) =>
    via
      .fetch('/users/me', { headers: { authorization: `Bearer ${token}` } })
      .then((response) => response.status);

  it('migrated exactly once and created one signing key, though both started together', async () => {
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const migrations = await client.query('select count(*)::int as n from drizzle.__drizzle_migrations');
      const keys = await client.query('select count(*)::int as n from signing_keys');
      expect(migrations.rows[0].n).toBe(journal.entries.length);
      expect(keys.rows[0].n).toBe(1);
    } finally {
      await client.end();
    }
  });

  it('publishes the same JWKS on both, and a token from one is accepted by the other', async () => {
    expect(await json(await a.fetch('/.well-known/jwks.json'))).toEqual(
      await json(await b.fetch('/.well-known/jwks.json')),
    );
    const user = await signup(a);
    expect(await me(b, user.accessToken)).toBe(200);
  });

  it('signout on A is refused by B within 1 s', async () => {
    const user = await signup(a);
    expect(await me(b, user.accessToken)).toBe(200);
    const signout = await a.fetch('/auth/signout', {
      method: 'POST',
      headers: { authorization: `Bearer ${user.accessToken}` },
    });
    expect(signout.status).toBe(204);
    delays.signout = await until(async () => (await me(b, user.accessToken)) === 401, 1_000);
  });

  it('a role change and disabling on A apply on B within 1 s', async () => {
    const admin = await signup(a);
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    await client.query(`update users set roles = '{admin,user}' where id = $1`, [admin.id]);
    await client.end();
    const user = await signup(b);
    const list = () =>
      b
        .fetch('/users', { headers: { authorization: `Bearer ${user.accessToken}` } })
        .then((response) => response.status);
    expect(await list()).toBe(403);

    const patch = (body: unknown) =>
      a.fetch(`/users/${user.id}`, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${admin.accessToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await patch({ roles: ['admin'] })).status).toBe(200);
    delays.roleChange = await until(async () => (await list()) === 200, 1_000);
    expect((await patch({ disabled: true })).status).toBe(200);
    delays.disable = await until(async () => (await me(b, user.accessToken)) === 401, 1_000);
  });

  it('shares the signin failure limit through Redis: failures on A throttle the same client on B', async () => {
    const user = await signup(a);
    const signin = (via: ServiceProcess, password: string) =>
      via.fetch('/auth/signin', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: user.email, password }),
      });
    for (let attempt = 0; attempt < 3; attempt++) {
      expect((await signin(a, 'wrong password, attempt ' + attempt)).status).toBe(401);
    }
    const throttled = await signin(b, PASSWORD); // the right password, on the other instance
    expect(throttled.status).toBe(429);
    expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await json(throttled)).code).toBe('too_many_requests');
  });
});
