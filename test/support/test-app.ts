import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { afterAll, beforeAll, inject } from 'vitest';
import { createApp } from '../../src/app.factory.js';
import { type AppConfig, loadConfig } from '../../src/config/app-config.js';
import type { RawEnv } from '../../src/config/config.schema.js';
import { createLogger } from '../../src/logging/logger.js';
import type { DatabaseConnection } from '../../src/database/database.types.js';
import { Http } from './http.js';
import { prepareValidation } from './openapi-validation.js';
import { freshTestDatabase } from './services.js';

/**
 * A fresh, migrated database: a copy of the run's template on its test
 * server (the embedded one, or PostgreSQL with GATEHOUSE_TEST_DATABASE=postgres),
 * dropped when the connection closes.
 */
export function freshDatabase(
  timeouts?: AppConfig['database']['timeouts'],
): Promise<DatabaseConnection & { url: string }> {
  return freshTestDatabase(inject('testServerUrl'), inject('templateDatabase'), timeouts);
}

export interface TestApp {
  app: NestFastifyApplication;
  config: AppConfig;
  connection: DatabaseConnection;
  /** Every log line the app wrote, parsed. */
  logs: Record<string, unknown>[];
  /** The raw log output, for scanning for secrets. */
  rawLogs: () => string;
  close: () => Promise<void>;
}

export const TEST_KEY_SECRET = 'test-key-encryption-secret-0123456789abcdef';

/**
 * The whole application, configured as production is but for `env`, on a
 * fresh database — or on `options.connection` (several instances sharing one
 * PostgreSQL database).
 */
export async function createTestApp(
  env: RawEnv = {},
  options: { connection?: DatabaseConnection } = {},
): Promise<TestApp> {
  const dataDir = await mkdtemp(join(tmpdir(), 'gatehouse-test-'));
  const config = loadConfig({
    DATA_DIR: dataDir,
    KEY_ENCRYPTION_SECRET: TEST_KEY_SECRET,
    LOG_LEVEL: 'info',
    ...env,
  });
  const connection = options.connection ?? (await freshDatabase());
  const chunks: string[] = [];
  const logger = createLogger(config, { write: (chunk: string) => void chunks.push(chunk) });
  const app = await createApp(config, { databaseConnection: connection, logger });
  await prepareValidation(app);
  return {
    app,
    config,
    connection,
    get logs() {
      return chunks.flatMap((chunk) =>
        chunk
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line) as Record<string, unknown>),
      );
    },
    rawLogs: () => chunks.join(''),
    close: async () => {
      await app.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * The suite's harness: one app for the enclosing `describe`, created before
 * its tests and closed after them. `t` and `http` are usable in hooks and
 * tests (not at collection time): they reach the app the `beforeAll` made.
 */
export function useTestApp(
  env: RawEnv | (() => RawEnv) = {},
  options: () =>
    Promise<{ connection?: DatabaseConnection }> | { connection?: DatabaseConnection } = () => ({}),
): { t: TestApp; http: Http } {
  let current: TestApp | undefined;
  const app = (): TestApp => {
    if (!current) throw new Error('useTestApp: the app exists only in hooks and tests of its describe');
    return current;
  };
  beforeAll(async () => {
    current = await createTestApp(typeof env === 'function' ? env() : env, await options());
  });
  afterAll(async () => {
    await current?.close();
    current = undefined;
  });
  const t: TestApp = {
    get app() {
      return app().app;
    },
    get config() {
      return app().config;
    },
    get connection() {
      return app().connection;
    },
    get logs() {
      return app().logs;
    },
    rawLogs: () => app().rawLogs(),
    close: () => app().close(),
  };
  return { t, http: new Http(() => app().app) };
}
