import { execFile } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildService, freePort, killAll, ROOT, ServiceProcess } from '../support/process.js';

const run = promisify(execFile);
const FIXTURE = join(ROOT, 'test/fixtures/pglite-0.1.0');

interface Signin {
  id: string;
  accessToken: string;
}

/** The variables npm reads to reach the registry from this machine (CA bundle, proxy, npm_config_*). */
const npmEnvironment = (): Record<string, string | undefined> =>
  Object.fromEntries(
    Object.entries(process.env).filter(([name]) =>
      /^(npm_config_|NODE_EXTRA_CA_CERTS$|SSL_CERT_(FILE|DIR)$|(HTTPS?|NO)_PROXY$)/i.test(name),
    ),
  );
/** What Gatehouse 0.1.0 answered while it wrote the fixture's data directory. */
const recorded = JSON.parse(readFileSync(join(FIXTURE, 'responses.json'), 'utf8')) as {
  ada: Signin;
  root: Signin;
  jwks: { keys: { kid: string }[] };
};
const PASSWORD = 'correct horse battery staple';

/**
 * A real 0.1.0 DATA_DIR (PGlite, made by that release: two users, three
 * sessions, a signing key, five audit events) is refused with the command
 * that converts it; that command converts it with nothing lost.
 */
// Real service processes, each start a few seconds: bounds sized for a machine busy with other work.
describe('a Gatehouse 0.1.0 (PGlite) data directory', { timeout: 180_000 }, () => {
  let scratch: string;
  let dataDir: string;

  beforeAll(async () => {
    buildService();
    scratch = await mkdtemp(join(tmpdir(), 'gatehouse-convert-'));
    chmodSync(scratch, 0o711); // passable by the postgres user, when root runs the server as it
    dataDir = join(scratch, 'data');
    await mkdir(dataDir);
    await run('tar', ['xzf', join(FIXTURE, 'data-dir.tgz'), '-C', dataDir]);
  }, 60_000);

  afterAll(async () => {
    await killAll();
    await rm(scratch, { recursive: true, force: true });
  });

  const start = async () => new ServiceProcess(await freePort(), { DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
  const signin = (service: ServiceProcess, email: string) =>
    service.fetch('/auth/signin', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password: PASSWORD }),
    });

  it('is refused at start with a message naming the one command that converts it', async () => {
    const service = await start();
    const exit = await service.waitForExit(90_000);
    expect(exit.code).toBe(1);
    expect(service.stderr).toContain('Gatehouse 0.1.0 (PGlite)');
    expect(service.stderr).toContain('npm run convert-pglite');
    expect(existsSync(join(dataDir, 'PG_VERSION'))).toBe(true); // untouched
  });

  it('converts with `npm run convert-pglite`: users, sessions, keys and audit events survive, old tokens still verify', async () => {
    // The command the message names (its build step is the global set-up's).
    const { stdout } = await run(process.execPath, ['dist/convert-pglite.js'], {
      cwd: ROOT,
      // The command installs PGlite from the registry: the machine's npm settings (CA, proxy) go along.
      env: { ...npmEnvironment(), PATH: process.env.PATH, HOME: process.env.HOME, DATA_DIR: dataDir },
    });
    expect(stdout).toContain('users 2, sessions 3, refresh_tokens 3, signing_keys 1, audit_events 5');
    expect(existsSync(join(dataDir, 'PG_VERSION'))).toBe(false);
    expect(existsSync(join(dataDir, 'pglite-0.1.0', 'PG_VERSION'))).toBe(true);
    // Made private on the way: the old files (password hashes in their WAL) included.
    // (Passing through, x, is allowed: root runs the server as postgres through a 0710 DATA_DIR.)
    expect(statSync(dataDir).mode & 0o066).toBe(0);
    expect(statSync(join(dataDir, 'pglite-0.1.0')).mode & 0o077).toBe(0);

    const service = await start();
    await service.waitFor();

    // Password hashes survived: both accounts sign in, with their old ids.
    const ada = await signin(service, 'ada@example.com');
    expect(ada.status).toBe(200);
    expect(((await ada.json()) as Signin).id).toBe(recorded.ada.id);
    const root = (await (await signin(service, 'root@example.com')).json()) as Signin;
    expect(root.id).toBe(recorded.root.id);

    // The signing key survived (and is still decrypted by DATA_DIR's secret): a token
    // 0.1.0 issued verifies against today's JWKS, checked at the time it was valid.
    const jwks = (await (await service.fetch('/.well-known/jwks.json')).json()) as {
      keys: { kid: string }[];
    };
    expect(jwks.keys.map((key) => key.kid)).toEqual(recorded.jwks.keys.map((key) => key.kid));
    const { iat } = decodeJwt(recorded.ada.accessToken);
    const verified = await jwtVerify(recorded.ada.accessToken, createLocalJWKSet(jwks as never), {
      issuer: 'gatehouse',
      audience: 'gatehouse',
      currentDate: new Date(iat! * 1000),
    });
    expect(verified.payload.sub).toBe(recorded.ada.id);

    // Audit events survived (sessions and refresh tokens were counted by the converter above).
    const auth = { headers: { authorization: `Bearer ${root.accessToken}` } };
    const events = (await (await service.fetch('/audit-events?limit=100', auth)).json()) as {
      type: string;
      createdAt: string;
    }[];
    const before = events.filter((event) => Date.parse(event.createdAt) <= iat! * 1000 + 60_000);
    expect(before.map((event) => event.type).sort()).toEqual(
      expect.arrayContaining(['signin_failed', 'signin_succeeded', 'signup']),
    );
    expect(before.length).toBeGreaterThanOrEqual(5);
    await service.stop();
  }, 120_000);
});
