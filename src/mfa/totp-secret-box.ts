import { Inject, Injectable } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { KeyEncryption, TOTP_SECRETS } from '../keys/key-encryption.js';
import { resolveKeyEncryptionSecret } from '../keys/key-encryption-secret.js';

/**
 * TOTP secrets at rest: AES-256-GCM under KEY_ENCRYPTION_SECRET (the signing keys' secret, with a
 * key of its own derived for this purpose), each bound to its user, so that a database dump
 * yields no secret and a ciphertext moved to another user's row does not decrypt.
 */
@Injectable()
export class TotpSecretBox {
  private readonly encryption: KeyEncryption;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.encryption = new KeyEncryption(resolveKeyEncryptionSecret(config), TOTP_SECRETS);
  }

  seal(userId: string, secret: Buffer): string {
    return this.encryption.encrypt(secret, userId);
  }

  open(userId: string, sealed: string): Buffer {
    return this.encryption.decrypt(sealed, userId);
  }
}
