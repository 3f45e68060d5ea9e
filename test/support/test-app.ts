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

let template: Promise<Buffer> | undefined;

/** A fresh, migrated embedded database in memory: a copy of the run's template. */
export async function freshDatabase(): Promise<DatabaseConnection> {
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

/** The whole application on a fresh database, configured as production is but for `env`. */
export async function createTestApp(env: RawEnv = {}): Promise<TestApp> {
  const dataDir = await mkdtemp(join(tmpdir(), 'gatehouse-test-'));
  const config = loadConfig({
    DATA_DIR: dataDir,
    KEY_ENCRYPTION_SECRET: TEST_KEY_SECRET,
    LOG_LEVEL: 'info',
    ...env,
  });
  const connection = await freshDatabase();
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
