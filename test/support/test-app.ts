import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { inject } from 'vitest';
import { createApp } from '../../src/app.factory.js';
import { type AppConfig, loadConfig } from '../../src/config/app-config.js';
import type { RawEnv } from '../../src/config/config.schema.js';
import { createLogger } from '../../src/logging/logger.js';
import { embeddedConnection } from '../../src/database/database.connection.js';
import type { DatabaseConnection } from '../../src/database/database.types.js';
import { E2E_ON_POSTGRES, freshPostgresConnection } from './services.js';

let template: Promise<Buffer> | undefined;

/**
 * A fresh, migrated database: an in-memory copy of the run's PGlite template,
 * or — when the suite runs with GATEHOUSE_TEST_DATABASE=postgres — a new
 * database on the PostgreSQL server, dropped when the connection closes.
 */
export async function freshDatabase(): Promise<DatabaseConnection> {
  if (E2E_ON_POSTGRES) return freshPostgresConnection();
  template ??= readFile(inject('pgliteTemplatePath'));
  const client = await PGlite.create({ loadDataDir: new Blob([new Uint8Array(await template)]) });
  return embeddedConnection(client);
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
