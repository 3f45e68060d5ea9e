import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { TestProject } from 'vitest/node';
import { embeddedConnection } from '../../src/database/database.connection.js';
import { buildService } from './process.js';
import { POSTGRES_URL, postgresReachable, REDIS_URL, redisReachable } from './services.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A tarball of a migrated PGlite data directory: each test database starts as a copy of it. */
    pgliteTemplatePath: string;
    /** Whether the PostgreSQL server (TEST_POSTGRES_URL) answers: server-backed suites run only then. */
    postgresAvailable: boolean;
    /** Whether the Redis server (TEST_REDIS_URL) answers. */
    redisAvailable: boolean;
  }
}

/**
 * Runs initdb and the migrations once per test run (seconds), instead of once
 * per test; every test then loads a copy of the result in memory.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // The built service, for the tests that run it as a process: built once, here.
  buildService();
  process.env.GATEHOUSE_TEST_BUILT = '1'; // inherited by the test workers

  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-template-'));
  const client = await PGlite.create();
  const connection = await embeddedConnection(client);
  const dump = await client.dumpDataDir('none');
  await connection.close();
  const path = join(dir, 'template.tar');
  await writeFile(path, Buffer.from(await dump.arrayBuffer()));
  project.provide('pgliteTemplatePath', path);

  const [postgres, redis] = await Promise.all([postgresReachable(), redisReachable()]);
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
  return () => rm(dir, { recursive: true, force: true });
}
