import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AppConfig } from '../config/app-config.js';
import { assertPrivate } from '../database/data-dir.js';
import { KeyEncryption } from './key-encryption.js';

export const SECRET_FILE_NAME = 'key-encryption-secret';

/**
 * The secret that encrypts signing keys at rest: KEY_ENCRYPTION_SECRET, or —
 * on the embedded database only — one generated once into DATA_DIR (mode
 * 0600), so that zero set-up still never stores a private key in clear.
 * (With DATABASE_URL the configuration already demands the variable.)
 */
export function resolveKeyEncryptionSecret(
  config: Pick<AppConfig, 'keyEncryptionSecret' | 'database'>,
): string {
  if (config.keyEncryptionSecret) return config.keyEncryptionSecret;
  if (config.database.url) throw new Error('KEY_ENCRYPTION_SECRET is required with DATABASE_URL');
  const path = join(config.database.dataDir, SECRET_FILE_NAME);
  assertPrivate(path, 'the key-encryption secret'); // another user's secret would decrypt keys they forged
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const secret = KeyEncryption.generateSecret();
  writeFileSync(path, secret + '\n', { mode: 0o600, flag: 'wx' });
  return secret;
}
