import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildService, freePort, killAll, ServiceProcess } from '../support/process.js';

/**
 * A start that fails says why on one plain line of standard error and exits
 * 1 — no "[object Object]", no JSON, no stack — whatever failed: the embedded
 * database, DATA_DIR, the key-encryption secret, the PostgreSQL server. And a
 * DATA_DIR/pg that is no cluster is refused, not deleted to make one.
 */
describe('start-up failures: one readable line', () => {
  const dirs: string[] = [];
  /** Run as root, the embedded server runs as `postgres`: its directory must be that user's. */
  const serverUid = (): number | undefined =>
    process.getuid?.() === 0
      ? Number.parseInt(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }), 10)
      : undefined;

  const dataDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gatehouse-fail-'));
    dirs.push(dir);
    return dir;
  };
  /** DATA_DIR/pg, private to the server's user, with `files` in it. */
  const pgDir = (dir: string, files: Record<string, string>) => {
    const pg = join(dir, 'pg');
    mkdirSync(pg, { mode: 0o700 });
    for (const [name, content] of Object.entries(files))
      writeFileSync(join(pg, name), content, { mode: 0o600 });
    const uid = serverUid();
    if (uid !== undefined)
      for (const path of [pg, ...Object.keys(files).map((name) => join(pg, name))]) chownSync(path, uid, uid);
    return pg;
  };

  /** Starts the service, expects it to exit 1 within 60 s, and returns its one line of error. */
  async function failedStart(env: Record<string, string>): Promise<string> {
    const service = new ServiceProcess(await freePort(), { LOG_LEVEL: 'info', ...env });
    const exit = await service.waitForExit(60_000);
    expect(exit.code, service.stderr + service.stdout).toBe(1);
    const output = service.stderr + service.stdout;
    expect(output).not.toContain('[object Object]');
    expect(output).not.toMatch(/^\s+at /m);
    expect(output).not.toMatch(/"level":60/);
    const lines = service.stderr.trim().split('\n');
    expect(lines, service.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^gatehouse: \S/);
    return lines[0]!;
  }

  beforeAll(() => buildService(), 120_000);
  afterAll(async () => {
    await killAll();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('a DATA_DIR/pg that is no cluster and not empty is refused and left as it was', async () => {
    const dir = await dataDir();
    const pg = pgDir(dir, { 'notes.txt': 'not a database\n' });
    const line = await failedStart({ DATA_DIR: dir });
    expect(line).toMatch(/not a PostgreSQL cluster/);
    expect(line).toContain(pg);
    expect(existsSync(join(pg, 'notes.txt'))).toBe(true);
  }, 90_000);

  it('a DATA_DIR/pg that claims to be a cluster but is none: the database server says why', async () => {
    const dir = await dataDir();
    pgDir(dir, { PG_VERSION: '18\n' });
    expect(await failedStart({ DATA_DIR: dir })).toMatch(
      /the embedded database did not start: .*postgresql\.conf/,
    );
  }, 90_000);

  it('a DATA_DIR that is a file', async () => {
    const dir = await dataDir();
    const file = join(dir, 'file');
    writeFileSync(file, 'x', { mode: 0o600 });
    expect(await failedStart({ DATA_DIR: file })).toMatch(/cannot open the database: .*file/);
  }, 90_000);

  it('an unreachable PostgreSQL server (DATABASE_URL)', async () => {
    const port = await freePort();
    const line = await failedStart({
      DATABASE_URL: `postgresql://gatehouse:secret-password@127.0.0.1:${port}/gatehouse`,
      KEY_ENCRYPTION_SECRET: 'some-key-encryption-secret-0123456789abcdef',
    });
    expect(line).toMatch(/cannot open the database: .*ECONNREFUSED/);
    expect(line).not.toContain('secret-password');
  }, 90_000);

  it('a KEY_ENCRYPTION_SECRET other than the one the keys were stored with', async () => {
    const dir = await dataDir();
    const first = new ServiceProcess(await freePort(), {
      DATA_DIR: dir,
      KEY_ENCRYPTION_SECRET: 'the-first-key-encryption-secret-0123456789',
    });
    await first.waitFor('/health/ready', 60_000);
    expect((await first.stop()).code).toBe(0);
    const line = await failedStart({
      DATA_DIR: dir,
      KEY_ENCRYPTION_SECRET: 'another-key-encryption-secret-9876543210ab',
    });
    expect(line).toMatch(/KEY_ENCRYPTION_SECRET differs/);
  }, 120_000);
});
