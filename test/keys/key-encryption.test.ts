import { createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { KeyEncryption, SIGNING_KEYS, TOTP_SECRETS } from '../../src/keys/key-encryption.js';

const SECRET = KeyEncryption.generateSecret();

function tamper(s: string, partIndex: number): string {
  const parts = s.split('.');
  const bytes = Buffer.from(parts[partIndex] ?? '', 'base64url');
  bytes[0] = (bytes[0] ?? 0) ^ 0x01;
  parts[partIndex] = bytes.toString('base64url');
  return parts.join('.');
}

describe('KeyEncryption', () => {
  it('generates 32-byte base64url secrets, different each time', () => {
    const a = KeyEncryption.generateSecret();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(a, 'base64url')).toHaveLength(32);
    expect(KeyEncryption.generateSecret()).not.toBe(a);
  });

  it('round-trips data', () => {
    const plain = randomBytes(200);
    const enc = new KeyEncryption(SECRET);
    const sealed = enc.encrypt(plain);
    expect(enc.decrypt(sealed).equals(plain)).toBe(true);
    // A second instance with the same secret derives the same key.
    expect(new KeyEncryption(SECRET).decrypt(sealed).equals(plain)).toBe(true);
  });

  it('round-trips empty data', () => {
    const enc = new KeyEncryption(SECRET);
    expect(enc.decrypt(enc.encrypt(Buffer.alloc(0)))).toHaveLength(0);
  });

  it('produces v1.<iv>.<tag>.<ciphertext> with a 96-bit IV and 128-bit tag', () => {
    const plain = Buffer.from('private key bytes');
    const sealed = new KeyEncryption(SECRET).encrypt(plain);
    const parts = sealed.split('.');
    expect(parts).toHaveLength(4);
    expect(parts[0]).toBe('v1');
    for (const p of parts.slice(1)) expect(p).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(Buffer.from(parts[1] ?? '', 'base64url')).toHaveLength(12);
    expect(Buffer.from(parts[2] ?? '', 'base64url')).toHaveLength(16);
    expect(Buffer.from(parts[3] ?? '', 'base64url')).toHaveLength(plain.length);
    expect(sealed).not.toContain(plain.toString('base64url'));
  });

  it('encrypts the same data differently each time', () => {
    const enc = new KeyEncryption(SECRET);
    const plain = Buffer.from('same data');
    const a = enc.encrypt(plain);
    const b = enc.encrypt(plain);
    expect(a).not.toBe(b);
    expect(a.split('.')[1]).not.toBe(b.split('.')[1]);
    expect(enc.decrypt(a).equals(enc.decrypt(b))).toBe(true);
  });

  it('throws a clear error without the secret when the secret is wrong', () => {
    const sealed = new KeyEncryption(SECRET).encrypt(Buffer.from('data'));
    const other = KeyEncryption.generateSecret();
    let error: unknown;
    try {
      new KeyEncryption(other).decrypt(sealed);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(Error);
    const message = (error as Error).message;
    expect(message).toMatch(/wrong secret or tampered data/);
    expect(message).not.toContain(other);
    expect(message).not.toContain(SECRET);
  });

  it.each([
    ['iv', 1],
    ['tag', 2],
    ['ciphertext', 3],
  ])('throws when the %s is tampered with', (_name, index) => {
    const enc = new KeyEncryption(SECRET);
    const sealed = enc.encrypt(Buffer.from('some private key material'));
    const tampered = tamper(sealed, index);
    expect(tampered).not.toBe(sealed);
    expect(() => enc.decrypt(tampered)).toThrow(/wrong secret or tampered data/);
  });

  it('throws when the ciphertext is truncated', () => {
    const enc = new KeyEncryption(SECRET);
    const parts = enc.encrypt(Buffer.from('0123456789abcdef')).split('.');
    parts[3] = Buffer.from(parts[3] ?? '', 'base64url')
      .subarray(0, 8)
      .toString('base64url');
    expect(() => enc.decrypt(parts.join('.'))).toThrow(/wrong secret or tampered data/);
  });

  // Pins the on-disk format: changing the HKDF salt/info or the AAD would make every stored
  // signing key unreadable. Decrypts independently with node:crypto.
  it('uses HKDF-SHA256 and AES-256-GCM with the gatehouse-signing-key AAD (stable format)', () => {
    const plain = Buffer.from('pinned format');
    const [, iv, tag, ct] = new KeyEncryption(SECRET).encrypt(plain).split('.');
    const key = Buffer.from(
      hkdfSync(
        'sha256',
        Buffer.from(SECRET),
        'gatehouse/key-encryption/salt/v1',
        'gatehouse/key-encryption/aes-256-gcm/signing-keys/v1',
        32,
      ),
    );
    const open = (aad: string) => {
      const d = createDecipheriv('aes-256-gcm', key, Buffer.from(iv ?? '', 'base64url'), {
        authTagLength: 16,
      });
      d.setAAD(Buffer.from(aad));
      d.setAuthTag(Buffer.from(tag ?? '', 'base64url'));
      return Buffer.concat([d.update(Buffer.from(ct ?? '', 'base64url')), d.final()]);
    };
    expect(open('gatehouse-signing-key').equals(plain)).toBe(true);
    expect(() => open('other-purpose')).toThrow();
  });

  it('keeps purposes apart: a TOTP secret does not decrypt as a signing key, nor the other way round', () => {
    const keys = new KeyEncryption(SECRET, SIGNING_KEYS);
    const totp = new KeyEncryption(SECRET, TOTP_SECRETS);
    const plain = Buffer.from('twenty bytes secret!');
    expect(() => keys.decrypt(totp.encrypt(plain, 'user-1'), 'user-1')).toThrow(
      /wrong secret or tampered data/,
    );
    expect(() => totp.decrypt(keys.encrypt(plain))).toThrow(/wrong secret or tampered data/);
    expect(new KeyEncryption(SECRET).decrypt(keys.encrypt(plain)).equals(plain)).toBe(true); // the default
  });

  it('binds a ciphertext to its record: moved to another user, it does not decrypt', () => {
    const totp = new KeyEncryption(SECRET, TOTP_SECRETS);
    const plain = Buffer.from('twenty bytes secret!');
    const sealed = totp.encrypt(plain, 'user-1');
    expect(totp.decrypt(sealed, 'user-1').equals(plain)).toBe(true);
    expect(() => totp.decrypt(sealed, 'user-2')).toThrow(/wrong secret or tampered data/);
    expect(() => totp.decrypt(sealed)).toThrow(/wrong secret or tampered data/);
  });

  it.each([
    ['empty string', ''],
    ['wrong version', 'v2.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA.AAAA'],
    ['too few parts', 'v1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA'],
    ['bad base64url', 'v1.AAAAAAAAAAAAAAA+.AAAAAAAAAAAAAAAAAAAAAA.AAAA'],
    ['short iv', 'v1.AAAA.AAAAAAAAAAAAAAAAAAAAAA.AAAA'],
  ])('rejects malformed input: %s', (_name, input) => {
    expect(() => new KeyEncryption(SECRET).decrypt(input)).toThrow(/key encryption:/);
  });

  it('refuses a short secret', () => {
    expect(() => new KeyEncryption('')).toThrow(/at least 32 characters/);
    expect(() => new KeyEncryption('x'.repeat(31))).toThrow(/at least 32 characters/);
    expect(() => new KeyEncryption('x'.repeat(32))).not.toThrow();
  });

  it('keeps neither the secret nor the derived key in visible properties', () => {
    const enc = new KeyEncryption(SECRET);
    expect(JSON.stringify(enc)).not.toContain(SECRET);
    expect(Object.keys(enc)).toEqual([]);
  });
});
