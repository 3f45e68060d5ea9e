import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { openPostgres } from '../../src/database/database.connection.js';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '../../src/database/embedded-postgres.js';
import { CHROMIUM_PATH } from './browser-path.js';
import { buildService } from './process.js';
import {
  adminQuery,
  E2E_ON_POSTGRES,
  POSTGRES_URL,
  postgresReachable,
  REDIS_URL,
  redisReachable,
  withDatabase,
} from './services.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The server every test database lives on: the embedded one started here, or TEST_POSTGRES_URL. */
    testServerUrl: string;
    /** A migrated database on that server: each test database is created from it (CREATE DATABASE … TEMPLATE). */
    templateDatabase: string;
    /** Whether the PostgreSQL server (TEST_POSTGRES_URL) answers: server-backed suites run only then. */
    postgresAvailable: boolean;
    /** Whether the Redis server (TEST_REDIS_URL) answers. */
    redisAvailable: boolean;
    /** Whether Chromium is installed (CHROMIUM_PATH): browser suites run only then. */
    chromiumAvailable: boolean;
  }
}

/**
 * Starts one throw-away embedded PostgreSQL server for the run (or uses the
 * PostgreSQL server, with GATEHOUSE_TEST_DATABASE=postgres) and migrates a
 * template database on it once; every test database is a copy of it (tens of
 * milliseconds), not a migration per test.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // The built service, for the tests that run it as a process: built once, here.
  buildService();
  process.env.GATEHOUSE_TEST_BUILT = '1'; // inherited by the test workers

  const [postgres, redis] = await Promise.all([postgresReachable(), redisReachable()]);
  let dir: string | undefined;
  let embedded: EmbeddedPostgres | undefined;
  let serverUrl = POSTGRES_URL;
  if (!E2E_ON_POSTGRES) {
    dir = await mkdtemp(join(tmpdir(), 'gatehouse-test-server-'));
    // Many test apps at once, each with a pool and a LISTEN connection; nothing here must survive a crash.
    embedded = await startEmbeddedPostgres({
      directory: join(dir, 'pg'),
      maxConnections: 400,
      durable: false,
    });
    serverUrl = embedded.url;
  }
  const template = `gatehouse_template_${process.pid}_${Date.now()}`;
  await adminQuery(serverUrl, `create database ${template}`);
  const migrated = await openPostgres(withDatabase(serverUrl, template), 1);
  await migrated.close();
  project.provide('testServerUrl', serverUrl);
  project.provide('templateDatabase', template);

  project.provide('postgresAvailable', postgres);
  project.provide('redisAvailable', redis);
  for (const [name, up, url, variable] of [
    ['PostgreSQL', postgres, POSTGRES_URL, 'TEST_POSTGRES_URL'],
    ['Redis', redis, REDIS_URL, 'TEST_REDIS_URL'],
  ] as const) {
    if (!up && process.env.GATEHOUSE_REQUIRE_SERVICES) {
      throw new Error(`${name} is not reachable at ${url}, and GATEHOUSE_REQUIRE_SERVICES is set (CI).`);
    }
    if (!up) {
      console.warn(
        `\n⚠ ${name} is not reachable at ${url}: the tests that need it are SKIPPED. ` +
          `Start ${name} there (or set ${variable}) to run them.\n`,
      );
    }
  }
  // Chromium for the browser tests (Debian's package; playwright-core never downloads one).
  const chromium = existsSync(CHROMIUM_PATH);
  project.provide('chromiumAvailable', chromium);
  if (!chromium && process.env.GATEHOUSE_REQUIRE_BROWSER) {
    throw new Error(
      `Chromium is not installed at ${CHROMIUM_PATH}, and GATEHOUSE_REQUIRE_BROWSER is set (CI).`,
    );
  }
  if (!chromium) {
    console.warn(
      `\n⚠ Chromium is not installed at ${CHROMIUM_PATH}: the browser tests are SKIPPED. ` +
        `Install it (\`apt-get install -y chromium\`, or set CHROMIUM_PATH) to run them.\n`,
    );
  }
  return async () => {
    await adminQuery(serverUrl, `drop database if exists ${template} with (force)`).catch(() => {});
    await embedded?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  };
}
