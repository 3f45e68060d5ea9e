import { errorDetail, errorSummary } from './common/errors/error-detail.js';
import { asOperatorError, isOperatorFacing } from './common/errors/operator-error.js';
import { ConfigError, loadConfig } from './config/app-config.js';
import { openDatabase } from './database/database.connection.js';
import { createLogger } from './logging/logger.js';

// Whatever this process creates (DATA_DIR, the secret, logs) is its user's alone, whatever umask it inherited.
process.umask(0o077);

/**
 * Starts the service: configuration first (a bad value stops here), then the
 * database and the application together — the embedded server's initdb and
 * start run in their own processes while this one loads the application's
 * modules, most of the start-up time.
 */
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
  // The logger hears the embedded server's supervision: a crash of the server, and its restart.
  const database = openDatabase(config.database, { logger }).catch((error: unknown) => {
    throw asOperatorError(error, 'cannot open the database');
  });
  database.catch(() => {}); // awaited below; meanwhile its failure is not "unhandled"
  try {
    const [{ createApp }, databaseConnection] = await Promise.all([import('./app.factory.js'), database]);
    const app = await createApp(config, { logger, databaseConnection });
    // On SIGTERM/SIGINT: stop accepting, finish requests in flight, close the database, exit 0.
    app.enableShutdownHooks(['SIGTERM', 'SIGINT'], { useProcessExit: true });
    await app.listen({ port: config.port, host: config.host });
    logger.info(
      {
        port: config.port,
        database: config.database.url ? 'postgres' : `embedded (${config.database.dataDir})`,
        // From the process's start: module loading included.
        startupMs: Math.round(performance.now()),
      },
      `Gatehouse listening on http://localhost:${config.port}`,
    );
  } catch (error) {
    // What the operator must fix, said plainly on one line (no stack): the directory, the user, the old
    // format, the database, the secret, a file or a port. A bug of the code is logged with its stack.
    if (isOperatorFacing(error)) {
      process.stderr.write(`gatehouse: ${errorSummary(error)}\n`);
    } else {
      logger.fatal(`start-up failed: ${errorDetail(error)}`);
    }
    await database.then((connection) => connection.close()).catch(() => {});
    process.exit(1);
  }
}

await main();
