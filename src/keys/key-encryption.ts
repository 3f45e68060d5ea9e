import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

const VERSION = 'v1';
const HKDF_SALT = 'gatehouse/key-encryption/salt/v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const B64URL = /^[A-Za-z0-9_-]*$/;

const DECRYPT_FAILED = 'key encryption: cannot decrypt (wrong secret or tampered data)';

/**
 * What is encrypted: each purpose has its own AES key (HKDF info) and AAD, so that a ciphertext
 * of one purpose is never accepted as another's.
 */
export interface EncryptionPurpose {
  readonly info: string;
  readonly aad: string;
}

/** Signing keys' private keys (the original format: unchanged, or stored keys become unreadable). */
export const SIGNING_KEYS: EncryptionPurpose = {
  info: 'gatehouse/key-encryption/aes-256-gcm/signing-keys/v1',
  aad: 'gatehouse-signing-key',
};

/** Users' TOTP secrets; each is also bound to its user (the `context` of encrypt and decrypt). */
export const TOTP_SECRETS: EncryptionPurpose = {
  info: 'gatehouse/key-encryption/aes-256-gcm/totp-secrets/v1',
  aad: 'gatehouse-totp-secret',
};

function decodeSegment(s: string): Buffer | undefined {
  if (!B64URL.test(s)) return undefined;
  const bytes = Buffer.from(s, 'base64url');
  // Reject non-canonical encodings (stray trailing bits, impossible lengths).
  return bytes.toString('base64url') === s ? bytes : undefined;
}

/**
 * Encrypts secrets at rest (signing keys, TOTP secrets) with AES-256-GCM. The AES key is derived
 * from the secret (`KEY_ENCRYPTION_SECRET`) and the purpose with HKDF-SHA256; neither the secret
 * nor the key is kept in a visible property.
 */
export class KeyEncryption {
  /** Minimum secret length in characters (`generateSecret()` yields 43). */
  static readonly MIN_SECRET_LENGTH = 32;

  readonly #key: Buffer;
  readonly #aad: string;

  constructor(secret: string, purpose: EncryptionPurpose = SIGNING_KEYS) {
    if (typeof secret !== 'string' || secret.length < KeyEncryption.MIN_SECRET_LENGTH) {
      throw new Error(
        `key encryption: the secret must be at least ${KeyEncryption.MIN_SECRET_LENGTH} characters long`,
      );
    }
    this.#key = Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), HKDF_SALT, purpose.info, 32));
    this.#aad = purpose.aad;
  }

  /** The AAD: the purpose's, and the record the ciphertext belongs to (a user id), if any. */
  #aadFor(context: string | undefined): Buffer {
    return Buffer.from(context === undefined ? this.#aad : `${this.#aad}\n${context}`, 'utf8');
  }

  /** 32 random bytes, base64url (43 characters). */
  static generateSecret(): string {
    return randomBytes(32).toString('base64url');
  }

  /**
   * Returns `v1.<iv>.<tag>.<ciphertext>`, each part base64url. With a `context`, decrypt needs the
   * same one: a ciphertext copied to another record does not open there.
   */
  encrypt(plain: Buffer, context?: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(this.#aadFor(context));
    const ciphertext = Buffer.concat([cipher.update(plain), cipher.final()]);
    const tag = cipher.getAuthTag();
    return [
      VERSION,
      iv.toString('base64url'),
      tag.toString('base64url'),
      ciphertext.toString('base64url'),
    ].join('.');
  }

  /** Throws an Error when the format is wrong, the secret differs or the data was altered. */
  decrypt(s: string, context?: string): Buffer {
    if (typeof s !== 'string') throw new Error('key encryption: encrypted key must be a string');
    const parts = s.split('.');
    if (parts.length !== 4 || parts[0] !== VERSION) {
      throw new Error(
        'key encryption: unrecognised encrypted key format (expected v1.<iv>.<tag>.<ciphertext>)',
      );
    }
    const iv = decodeSegment(parts[1] ?? '');
    const tag = decodeSegment(parts[2] ?? '');
    const ciphertext = decodeSegment(parts[3] ?? '');
    if (iv?.length !== IV_BYTES || tag?.length !== TAG_BYTES || ciphertext === undefined) {
      throw new Error('key encryption: malformed encrypted key');
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(this.#aadFor(context));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
    } catch {
      throw new Error(DECRYPT_FAILED);
    }
  }
}
