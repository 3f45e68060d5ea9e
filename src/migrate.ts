import { errorDetail } from './common/errors/error-detail.js';
import { ConfigError, loadConfig } from './config/app-config.js';
import { openDatabase } from './database/database.connection.js';

// Whatever this process creates (DATA_DIR, the secret, logs) is its user's alone, whatever umask it inherited.
process.umask(0o077);

/**
 * `npm run migrate`: brings the database's schema up to date and exits.
 * The service does the same at start (instances take turns under an
 * advisory lock); this is for deployments that migrate as a separate step.
 */
try {
  const config = loadConfig();
  const connection = await openDatabase(config.database);
  await connection.close();
  process.stdout.write(
    `gatehouse: database schema is up to date (${connection.embedded ? 'embedded' : 'postgres'}).\n`,
  );
} catch (error) {
  process.stderr.write(`gatehouse: ${error instanceof ConfigError ? error.message : errorDetail(error)}\n`);
  process.exitCode = 1;
}
