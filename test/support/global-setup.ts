import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { TestProject } from 'vitest/node';
import { embeddedConnection } from '../../src/database/database.connection.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A tarball of a migrated PGlite data directory: each test database starts as a copy of it. */
    pgliteTemplatePath: string;
  }
}

/**
 * Runs initdb and the migrations once per test run (seconds), instead of once
 * per test; every test then loads a copy of the result in memory.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-template-'));
  const client = await PGlite.create();
  const connection = await embeddedConnection(client);
  const dump = await client.dumpDataDir('none');
  await connection.close();
  const path = join(dir, 'template.tar');
  await writeFile(path, Buffer.from(await dump.arrayBuffer()));
  project.provide('pgliteTemplatePath', path);
  return () => rm(dir, { recursive: true, force: true });
}
