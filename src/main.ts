import { createApp } from './app.factory.js';
import { errorDetail } from './common/errors/error-detail.js';
import { ConfigError, loadConfig } from './config/app-config.js';
import { DataDirInUseError } from './database/data-dir-lock.js';
import { EmbeddedPostgresError } from './database/embedded-postgres.js';
import { LegacyDataDirError } from './database/legacy-data-dir.js';
import { createLogger } from './logging/logger.js';

/** Starts the service: configuration first (a bad value stops here), then the app. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`gatehouse: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const logger = createLogger(config);
  const startedAt = performance.now();
  try {
    const app = await createApp(config, { logger });
    // On SIGTERM/SIGINT: stop accepting, finish requests in flight, close the database, exit 0.
    app.enableShutdownHooks(['SIGTERM', 'SIGINT'], { useProcessExit: true });
    await app.listen({ port: config.port, host: config.host });
    logger.info(
      {
        port: config.port,
        database: config.database.url ? 'postgres' : `embedded (${config.database.dataDir})`,
        startupMs: Math.round(performance.now() - startedAt),
      },
      `Gatehouse listening on http://localhost:${config.port}`,
    );
  } catch (error) {
    // What the operator must fix, said plainly (no stack): the directory, the user, the old format.
    if (
      error instanceof DataDirInUseError ||
      error instanceof EmbeddedPostgresError ||
      error instanceof LegacyDataDirError
    ) {
      process.stderr.write(`gatehouse: ${error.message}\n`);
    } else {
      logger.fatal(`start-up failed: ${errorDetail(error)}`);
    }
    process.exit(1);
  }
}

await main();
