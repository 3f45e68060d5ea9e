import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { OperatorError } from '../common/errors/operator-error.js';

/** The one command that converts a 0.1.0 data directory (see convert-pglite.ts). */
export const CONVERT_COMMAND = 'npm run convert-pglite';

/** Where the conversion keeps the 0.1.0 files, untouched, once every row is copied. */
export const LEGACY_BACKUP_DIR = 'pglite-0.1.0';

/** Files of ours that live beside the database in DATA_DIR (not part of a PGlite cluster). */
export const DATA_DIR_OWN_FILES = new Set([
  'gatehouse.lock',
  'key-encryption-secret',
  'pg',
  'postgres.log',
  'postgres-binaries',
  LEGACY_BACKUP_DIR,
]);

export class LegacyDataDirError extends OperatorError {
  override name = 'LegacyDataDirError';
}

/**
 * Gatehouse 0.1.0 kept PGlite's cluster directly in DATA_DIR (PG_VERSION at
 * its top). PGlite's files are a 32-bit WebAssembly build's and no PostgreSQL
 * server can open them, so they are converted row by row, once, on purpose.
 */
export function isLegacyDataDir(dataDir: string): boolean {
  return existsSync(join(dataDir, 'PG_VERSION'));
}

export function refuseLegacyDataDir(dataDir: string): void {
  if (!isLegacyDataDir(dataDir)) return;
  throw new LegacyDataDirError(
    `DATA_DIR ${dataDir} holds the database of Gatehouse 0.1.0 (PGlite), which this version no longer runs. ` +
      `Convert it once with: DATA_DIR=${dataDir} ${CONVERT_COMMAND} ` +
      `(it copies every row into the embedded PostgreSQL and keeps the old files in ${join(dataDir, LEGACY_BACKUP_DIR)})`,
  );
}
