import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

const VERSION = 'v1';
const HKDF_SALT = 'gatehouse/key-encryption/salt/v1';
const HKDF_INFO = 'gatehouse/key-encryption/aes-256-gcm/signing-keys/v1';
const AAD = Buffer.from('gatehouse-signing-key', 'utf8');
const IV_BYTES = 12;
const TAG_BYTES = 16;
const B64URL = /^[A-Za-z0-9_-]*$/;

const DECRYPT_FAILED = 'key encryption: cannot decrypt the signing key (wrong secret or tampered data)';

function decodeSegment(s: string): Buffer | undefined {
  if (!B64URL.test(s)) return undefined;
  const bytes = Buffer.from(s, 'base64url');
  // Reject non-canonical encodings (stray trailing bits, impossible lengths).
  return bytes.toString('base64url') === s ? bytes : undefined;
}

/**
 * Encrypts signing keys at rest with AES-256-GCM. The AES key is derived from the secret
 * (`KEY_ENCRYPTION_SECRET`) with HKDF-SHA256; neither the secret nor the key is kept in a
 * visible property.
 */
export class KeyEncryption {
  /** Minimum secret length in characters (`generateSecret()` yields 43). */
  static readonly MIN_SECRET_LENGTH = 32;

  readonly #key: Buffer;

  constructor(secret: string) {
    if (typeof secret !== 'string' || secret.length < KeyEncryption.MIN_SECRET_LENGTH) {
      throw new Error(
        `key encryption: the secret must be at least ${KeyEncryption.MIN_SECRET_LENGTH} characters long`,
      );
    }
    this.#key = Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), HKDF_SALT, HKDF_INFO, 32));
  }

  /** 32 random bytes, base64url (43 characters). */
  static generateSecret(): string {
    return randomBytes(32).toString('base64url');
  }

  /** Returns `v1.<iv>.<tag>.<ciphertext>`, each part base64url. */
  encrypt(plain: Buffer): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(AAD);
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
  decrypt(s: string): Buffer {
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
      decipher.setAAD(AAD);
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
    } catch {
      throw new Error(DECRYPT_FAILED);
    }
  }
}
