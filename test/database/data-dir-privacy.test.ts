import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, lstatSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildService, freePort, killAll, ServiceProcess } from '../support/process.js';

/**
 * A local user must neither read DATA_DIR (password hashes in the database's
 * files, the key-encryption secret) nor slip one of their own under the
 * service (a secret of their choosing decrypts nothing real, but a catalog
 * they wrote would run as the database).
 */
// Real service processes, each start a few seconds: bounds sized for a machine busy with other work.
describe('DATA_DIR is private to the service', { timeout: 180_000 }, () => {
  let scratch: string;
  /** Run as root, the embedded server runs as `postgres`: DATA_DIR/pg must be that user's. */
  const serverUser =
    process.getuid?.() === 0
      ? {
          uid: Number.parseInt(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }), 10),
          gid: Number.parseInt(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }), 10),
        }
      : undefined;
  const start = async (dataDir: string) =>
    new ServiceProcess(await freePort(), { DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
  const refused = async (dataDir: string): Promise<string> => {
    const service = await start(dataDir);
    const exit = await service.waitForExit(90_000);
    expect(exit.code).toBe(1);
    return service.stderr;
  };

  beforeAll(async () => {
    buildService();
    scratch = await mkdtemp(join(tmpdir(), 'gatehouse-privacy-'));
    chmodSync(scratch, 0o711); // passable by the postgres user, when root runs the server as it
  }, 60_000);
  afterAll(async () => {
    await killAll();
    await rm(scratch, { recursive: true, force: true });
  });

  it('creates nothing that group or others can read or write, even when started with umask 000', async () => {
    const dataDir = join(scratch, 'fresh');
    const previous = process.umask(0o000); // inherited by the service process
    let service: ServiceProcess;
    try {
      service = await start(dataDir);
    } finally {
      process.umask(previous);
    }
    await service.waitFor();
    const signup = await service.fetch('/auth/signup', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'private@example.com', password: 'correct horse battery staple' }),
    });
    expect(signup.status).toBe(201);
    await service.stop();

    const open: string[] = [];
    const walk = (path: string) => {
      // PostgreSQL's own binaries (copied here for root when its checkout is out of the server user's
      // reach) are public code, readable by the server's group: server-binaries.test.ts checks them.
      if (path === join(dataDir, 'postgres-binaries')) return;
      const stat = lstatSync(path);
      if (stat.mode & 0o066) open.push(`${path} ${(stat.mode & 0o777).toString(8)}`);
      if (stat.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name));
    };
    walk(dataDir);
    expect(open).toEqual([]);
  });

  it('refuses a DATA_DIR that others can read, saying what to fix', async () => {
    const dataDir = join(scratch, 'open');
    mkdirSync(dataDir, { mode: 0o755 });
    chmodSync(dataDir, 0o755);
    const stderr = await refused(dataDir);
    expect(stderr).toContain('mode 0755');
    expect(stderr).toContain('chmod');
  });

  it('refuses a DATA_DIR that is a symbolic link', async () => {
    const real = join(scratch, 'real');
    mkdirSync(real, { mode: 0o700 });
    const link = join(scratch, 'link');
    symlinkSync(real, link);
    expect(await refused(link)).toContain('symbolic link');
  });

  it('refuses a key-encryption secret that others can read', async () => {
    const dataDir = join(scratch, 'secret');
    mkdirSync(dataDir, { mode: 0o700 });
    writeFileSync(join(dataDir, 'key-encryption-secret'), 'a'.repeat(44) + '\n', { mode: 0o644 });
    chmodSync(join(dataDir, 'key-encryption-secret'), 0o644);
    const stderr = await refused(dataDir);
    expect(stderr).toContain('key-encryption-secret');
    expect(stderr).toContain('chmod 600');
  });

  it('refuses a key-encryption secret that is a symbolic link', async () => {
    const dataDir = join(scratch, 'secret-link');
    mkdirSync(dataDir, { mode: 0o700 });
    const elsewhere = join(scratch, 'secret-elsewhere');
    writeFileSync(elsewhere, 'c'.repeat(44) + '\n', { mode: 0o600 });
    symlinkSync(elsewhere, join(dataDir, 'key-encryption-secret'));
    const stderr = await refused(dataDir);
    expect(stderr).toContain('key-encryption-secret');
    expect(stderr).toContain('is a symbolic link');
    expect(stderr).toContain('put what it points to in its place');
  });

  it('refuses a database directory (DATA_DIR/pg) that its group can read, saying what to fix', async () => {
    // PostgreSQL itself accepts a 0750 cluster; an empty one would simply be initialised.
    const dataDir = join(scratch, 'pg-open');
    mkdirSync(dataDir, { mode: 0o700 });
    const pg = join(dataDir, 'pg');
    mkdirSync(pg, { mode: 0o750 });
    chmodSync(pg, 0o750);
    if (serverUser) chownSync(pg, serverUser.uid, serverUser.gid); // its owner is right: only the mode is wrong
    const stderr = await refused(dataDir);
    expect(stderr).toContain(`the embedded database directory ${pg}`);
    expect(stderr).toContain('mode 0750');
    expect(stderr).toContain(`chmod go-rw ${pg}`);
  });

  it.runIf(process.getuid?.() === 0)(
    "refuses a key-encryption secret or a database directory of another user's inside its own DATA_DIR",
    async () => {
      const planted = join(scratch, 'planted-secret');
      mkdirSync(planted, { mode: 0o700 });
      writeFileSync(join(planted, 'key-encryption-secret'), 'd'.repeat(44) + '\n', { mode: 0o600 });
      chownSync(join(planted, 'key-encryption-secret'), 65534, 65534); // nobody
      const secret = await refused(planted);
      expect(secret).toContain('the key-encryption secret');
      expect(secret).toContain('belongs to uid 65534');

      const pgPlanted = join(scratch, 'planted-pg');
      mkdirSync(join(pgPlanted, 'pg'), { recursive: true, mode: 0o700 });
      chownSync(join(pgPlanted, 'pg'), 65534, 65534);
      const pg = await refused(pgPlanted);
      expect(pg).toContain('the embedded database directory');
      expect(pg).toContain('belongs to uid 65534');
    },
  );

  it.runIf(process.getuid?.() === 0)(
    "refuses a DATA_DIR made by another user, holding a secret of that user's choosing",
    async () => {
      const dataDir = join(scratch, 'planted');
      mkdirSync(dataDir, { mode: 0o700 });
      writeFileSync(join(dataDir, 'key-encryption-secret'), 'b'.repeat(44) + '\n', { mode: 0o600 });
      chownSync(join(dataDir, 'key-encryption-secret'), 65534, 65534);
      chownSync(dataDir, 65534, 65534); // nobody
      expect(await refused(dataDir)).toContain('belongs to uid 65534');
    },
  );
});
