import { createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';

import { calculateJwkThumbprint } from 'jose';
import { describe, expect, it } from 'vitest';

import { JWT_ALGS, type JwtAlg } from '../../src/config/jwt-alg.js';
import {
  exportPrivateKey,
  generateSigningKey,
  importSigningKey,
  jwkThumbprint,
} from '../../src/keys/signing-key.js';
import { KeyEncryption } from '../../src/keys/key-encryption.js';

const expected: Record<JwtAlg, { type: string; jwkMembers: string[] }> = {
  ES256: { type: 'ec', jwkMembers: ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y'] },
  EdDSA: { type: 'ed25519', jwkMembers: ['alg', 'crv', 'kid', 'kty', 'use', 'x'] },
  RS256: { type: 'rsa', jwkMembers: ['alg', 'e', 'kid', 'kty', 'n', 'use'] },
};

function signVerifyWorks(
  alg: JwtAlg,
  privateKey: ReturnType<typeof generateSigningKey>['privateKey'],
  publicKey: ReturnType<typeof generateSigningKey>['publicKey'],
): boolean {
  const data = Buffer.from('hello');
  const digest = alg === 'EdDSA' ? null : 'sha256';
  return verify(digest, data, publicKey, sign(digest, data, privateKey));
}

describe('JWT_ALGS', () => {
  it('lists exactly the supported algorithms', () => {
    expect(JWT_ALGS).toEqual(['ES256', 'EdDSA', 'RS256']);
  });
});

describe.each(JWT_ALGS)('signing keys (%s)', (alg) => {
  const key = generateSigningKey(alg);

  it('generates a key pair of the right type', () => {
    expect(key.alg).toBe(alg);
    expect(key.privateKey.type).toBe('private');
    expect(key.publicKey.type).toBe('public');
    expect(key.privateKey.asymmetricKeyType).toBe(expected[alg].type);
    if (alg === 'ES256') expect(key.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    if (alg === 'RS256') expect(key.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(signVerifyWorks(alg, key.privateKey, key.publicKey)).toBe(true);
  });

  it('publishes only public JWK members, with kid, alg and use', () => {
    const jwk = key.publicJwk as Record<string, unknown>;
    expect(Object.keys(jwk).sort()).toEqual(expected[alg].jwkMembers);
    expect(jwk.kid).toBe(key.kid);
    expect(jwk.alg).toBe(alg);
    expect(jwk.use).toBe('sig');
    for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi']) expect(jwk).not.toHaveProperty(secret);
    // JSON-safe and matching the actual public key.
    const roundTripped = JSON.parse(JSON.stringify(jwk)) as Record<string, unknown>;
    expect(roundTripped).toEqual(jwk);
    const fromJwk = createPublicKey({ key: roundTripped as never, format: 'jwk' });
    expect(fromJwk.equals(key.publicKey)).toBe(true);
  });

  it('uses the RFC 7638 thumbprint as kid (checked with jose)', async () => {
    expect(key.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(key.kid).toBe(await calculateJwkThumbprint(key.publicJwk, 'sha256'));
    expect(jwkThumbprint(key.publicJwk)).toBe(key.kid);
  });

  it('generates a different key every time', () => {
    const other = generateSigningKey(alg);
    expect(other.kid).not.toBe(key.kid);
    expect(other.publicKey.equals(key.publicKey)).toBe(false);
  });

  it('exports PKCS#8 DER and imports it back to the same key', () => {
    const der = exportPrivateKey(key.privateKey);
    expect(Buffer.isBuffer(der)).toBe(true);
    expect(der[0]).toBe(0x30); // DER SEQUENCE
    const imported = importSigningKey(alg, key.kid, der);
    expect(imported.kid).toBe(key.kid);
    expect(imported.alg).toBe(alg);
    expect(imported.publicKey.equals(key.publicKey)).toBe(true);
    expect(imported.publicJwk).toEqual(key.publicJwk);
    expect(signVerifyWorks(alg, imported.privateKey, key.publicKey)).toBe(true);
  });

  it('survives export → encrypt → decrypt → import', () => {
    const enc = new KeyEncryption(KeyEncryption.generateSecret());
    const sealed = enc.encrypt(exportPrivateKey(key.privateKey));
    const imported = importSigningKey(alg, key.kid, enc.decrypt(sealed));
    expect(imported.publicKey.equals(key.publicKey)).toBe(true);
  });

  it('refuses to export a public key', () => {
    expect(() => exportPrivateKey(key.publicKey)).toThrow(/only a private key/);
  });

  it('refuses to import the key under another algorithm', () => {
    const der = exportPrivateKey(key.privateKey);
    for (const other of JWT_ALGS.filter((a) => a !== alg)) {
      expect(() => importSigningKey(other, key.kid, der)).toThrow(/not a valid/);
    }
  });
});

describe('importSigningKey', () => {
  it('rejects garbage and empty kids', () => {
    const der = exportPrivateKey(generateSigningKey('EdDSA').privateKey);
    expect(() => importSigningKey('EdDSA', 'k', Buffer.from('not a key'))).toThrow(/PKCS#8/);
    expect(() => importSigningKey('EdDSA', '', der)).toThrow(/kid/);
  });

  it('rejects weak or mismatched key types', () => {
    const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
    expect(() => importSigningKey('RS256', 'k', exportPrivateKey(rsa1024))).toThrow(/not a valid RS256/);
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
    expect(() => importSigningKey('ES256', 'k', exportPrivateKey(p384))).toThrow(/not a valid ES256/);
    const pss = generateKeyPairSync('rsa-pss', { modulusLength: 2048 }).privateKey;
    expect(() => importSigningKey('RS256', 'k', exportPrivateKey(pss))).toThrow(/not a valid RS256/);
  });
});
