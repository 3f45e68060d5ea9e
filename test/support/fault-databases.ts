import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { createPostgresDatabase } from './services.js';

/** A database a fault script runs the service on: the embedded one, or a fresh PostgreSQL database. */
export interface FaultDatabase {
  name: 'embedded' | 'postgres';
  available: () => boolean;
  /** The environment naming a new database; the same for a killed process and its successor. */
  prepare: () => Promise<{ env: Record<string, string>; dataDir?: string; cleanup: () => Promise<void> }>;
}

/** Both databases, for a fault that must hold on each (`fault` names the temporary DATA_DIR). */
export function faultDatabases(fault: string): FaultDatabase[] {
  return [
    {
      name: 'embedded',
      available: () => true,
      prepare: async () => {
        const dataDir = await mkdtemp(join(tmpdir(), `gatehouse-fault-${fault}-`));
        return {
          env: { DATA_DIR: dataDir },
          dataDir,
          cleanup: () => rm(dataDir, { recursive: true, force: true }),
        };
      },
    },
    {
      name: 'postgres',
      available: () => inject('postgresAvailable'),
      prepare: async () => {
        const database = await createPostgresDatabase();
        return {
          env: {
            DATABASE_URL: database.url,
            KEY_ENCRYPTION_SECRET: 'fault-test-secret-0123456789abcdef0123456789',
          },
          cleanup: database.drop,
        };
      },
    },
  ];
}
