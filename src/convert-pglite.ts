import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { getTableName, sql } from 'drizzle-orm';
import { errorDetail } from './common/errors/error-detail.js';
import { ConfigError, loadConfig } from './config/app-config.js';
import { openEmbedded, UNBOUNDED } from './database/database.connection.js';
import { DATA_DIR_OWN_FILES, isLegacyDataDir, LEGACY_BACKUP_DIR } from './database/legacy-data-dir.js';
import { auditEvents, refreshTokens, sessions, signingKeys, users } from './database/schema.js';

// Whatever this process creates (DATA_DIR, the secret, logs) is its user's alone, whatever umask it inherited.
process.umask(0o077);

/**
 * `npm run convert-pglite`: converts a Gatehouse 0.1.0 DATA_DIR (PGlite)
 * into the embedded PostgreSQL server, once. PGlite is no dependency any
 * more: the exact version 0.1.0 wrote with is fetched into a cache folder.
 *
 * Every row of every table is copied, in foreign-key order, in one
 * transaction on the new server; the counts are compared; only then do the
 * old files move to DATA_DIR/pglite-0.1.0. Interrupted at any point, it can
 * simply be run again: until that last move, the old cluster is where it was.
 */
const PGLITE_VERSION = '0.5.16';
const TABLES = [users, sessions, refreshTokens, signingKeys, auditEvents].map((table) => getTableName(table));
const BATCH = 1_000;

interface PGliteLike {
  query<T>(sql: string, params?: unknown[]): Promise<{ rows: T[] }>;
  close(): Promise<void>;
}

async function loadPGlite(): Promise<{ create(dataDir: string): Promise<PGliteLike> }> {
  const cache = resolve('node_modules/.cache/gatehouse-pglite');
  const entry = join(cache, 'node_modules/@electric-sql/pglite/dist/index.js');
  if (!existsSync(entry)) {
    process.stdout.write(
      `gatehouse: fetching @electric-sql/pglite@${PGLITE_VERSION} to read the old database…\n`,
    );
    mkdirSync(cache, { recursive: true });
    execFileSync(
      'npm',
      [
        'install',
        '--prefix',
        cache,
        '--no-save',
        '--no-audit',
        '--no-fund',
        `@electric-sql/pglite@${PGLITE_VERSION}`,
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
  }
  const { PGlite } = (await import(pathToFileURL(entry).href)) as {
    PGlite: { create(dir: string): Promise<PGliteLike> };
  };
  return PGlite;
}

async function convert(dataDir: string): Promise<void> {
  if (!isLegacyDataDir(dataDir)) {
    process.stdout.write(`gatehouse: ${dataDir} holds no 0.1.0 (PGlite) database: nothing to convert.\n`);
    return;
  }
  // 0.1.0 created DATA_DIR with the umask's mode (often 0755) and PGlite's files 0666: make it
  // private now (only if it is ours: another user's directory is refused below, not adopted).
  if (lstatSync(dataDir).uid === process.getuid?.()) chmodSync(dataDir, 0o700);
  const PGlite = await loadPGlite();
  // A half-done earlier run left a new cluster behind: start again from nothing.
  rmSync(join(dataDir, 'pg'), { recursive: true, force: true });
  // One long copy, no request's: no statement or lock timeout. Takes the DATA_DIR lock.
  const target = await openEmbedded(dataDir, 2, { legacyAllowed: true, timeouts: UNBOUNDED });
  const counts: Record<string, number> = {};
  try {
    const old = await PGlite.create(dataDir);
    try {
      await target.db.transaction(async (tx) => {
        for (const table of TABLES) {
          const { rows } = await old.query<{ row: string }>(
            `select row_to_json(t)::text as row from "${table}" t`,
          );
          // Only the columns 0.1.0 had: newer ones (added by later migrations) take their defaults.
          const { rows: columns } = await old.query<{ name: string }>(
            `select column_name as name from information_schema.columns where table_schema = 'public' and table_name = $1`,
            [table],
          );
          const list = sql.join(
            columns.map((column) => sql.identifier(column.name)),
            sql`, `,
          );
          for (let at = 0; at < rows.length; at += BATCH) {
            const batch = `[${rows
              .slice(at, at + BATCH)
              .map((r) => r.row)
              .join(',')}]`;
            const name = sql.identifier(table);
            await tx.execute(
              sql`insert into ${name} (${list}) select ${list} from json_populate_recordset(null::${name}, ${batch}::json)`,
            );
          }
          counts[table] = rows.length;
        }
      });
    } finally {
      await old.close();
    }
    for (const table of TABLES) {
      const result: unknown = await target.db.execute(
        sql`select count(*)::int as n from ${sql.identifier(table)}`,
      );
      if ((result as { rows: { n: number }[] }).rows[0]!.n !== counts[table])
        throw new Error(`row count of ${table} differs after the copy`);
    }
    const backup = join(dataDir, LEGACY_BACKUP_DIR);
    mkdirSync(backup, { recursive: true, mode: 0o700 });
    for (const name of readdirSync(dataDir)) {
      if (!DATA_DIR_OWN_FILES.has(name)) renameSync(join(dataDir, name), join(backup, name));
    }
    const summary = Object.entries(counts)
      .map(([table, n]) => `${table} ${n}`)
      .join(', ');
    process.stdout.write(`gatehouse: converted ${dataDir} (${summary}); the 0.1.0 files are in ${backup}.\n`);
  } finally {
    await target.close();
  }
}

try {
  const config = loadConfig();
  await convert(config.database.dataDir);
} catch (error) {
  process.stderr.write(`gatehouse: ${error instanceof ConfigError ? error.message : errorDetail(error)}\n`);
  process.exitCode = 1;
}
