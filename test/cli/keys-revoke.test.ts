import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildService } from '../support/process.js';
import { runCli } from '../support/cli.js';
import { expectError, Http } from '../support/http.js';
import { createTestApp, TEST_KEY_SECRET, type TestApp } from '../support/test-app.js';
import { kidOf } from '../support/tokens.js';

const cli = (args: string[], env: Record<string, string>) => runCli(args, env);

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < timeoutMs) {
    if (await check()) return performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`condition not met within ${timeoutMs} ms`);
}

/**
 * `keys revoke <kid>` from the command line, against the database a running
 * instance uses: the instance refuses the key's tokens within a second (it
 * hears of it through the database), without a restart.
 */
describe('keys revoke (command line)', () => {
  let t: TestApp;
  let http: Http;
  let env: Record<string, string>;

  beforeAll(async () => {
    buildService();
    t = await createTestApp();
    http = new Http(t.app);
    env = { DATABASE_URL: (t.connection as { url?: string }).url!, KEY_ENCRYPTION_SECRET: TEST_KEY_SECRET };
  }, 120_000);
  afterAll(() => t?.close());

  it('revokes the key signing now: a running instance refuses its tokens within 1 s and a fresh key signs', async () => {
    const user = await http.signup();
    const kid = kidOf(user.accessToken)!;
    expect((await http.get('/users/me', { token: user.accessToken })).status).toBe(200);

    const run = await cli(['keys', 'revoke', kid, '--end-sessions'], env);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`Signing key ${kid} revoked`);
    expect(run.stdout).toMatch(/New signing key \S+ signs from now/);
    expect(run.stdout).toMatch(/Sessions signed out: [1-9]/);

    const seen = await until(
      async () => (await http.get('/users/me', { token: user.accessToken })).status === 401,
      1_000,
    );
    console.log(`revocation by the command line seen by the running instance after ${Math.round(seen)} ms`);
    expectError(await http.get('/users/me', { token: user.accessToken }), 401, 'invalid_token');
    const jwks = (await http.get('/.well-known/jwks.json')).body as { keys: { kid: string }[] };
    expect(jwks.keys.map((key) => key.kid)).not.toContain(kid);
    // --end-sessions: the session that held its token is over.
    expectError(
      await http.post('/auth/refresh', { body: { refreshToken: user.refreshToken } }),
      401,
      'invalid_refresh_token',
    );
    const fresh = await http.signin(user.email);
    expect(kidOf(fresh.accessToken)).not.toBe(kid);
    expect((await http.get('/users/me', { token: fresh.accessToken })).status).toBe(200);

    const list = await cli(['keys', 'list'], env);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`${kid}\\s+\\S+\\s+revoked`));
  }, 120_000);

  it('says so, and fails, for a kid that does not exist', async () => {
    const run = await cli(['keys', 'revoke', 'no-such-key'], env);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/no signing key no-such-key/);
    // A kid is base64url, so it may begin with '-': it is still read as the kid, not as an option.
    const dashed = await cli(
      ['keys', 'revoke', '-dGp9oIRaoUNMse7cga8dVwyiww8HITKjC_uLOs7gpg', '--end-sessions'],
      env,
    );
    expect(dashed.code).not.toBe(0);
    expect(dashed.stderr).toMatch(/no signing key -dGp9oIRaoUNMse7cga8dVwyiww8HITKjC_uLOs7gpg/);
  }, 60_000);
});
