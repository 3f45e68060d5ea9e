import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';

import type { JwtAlg } from '../config/jwt-alg.js';

/** Public half of a signing key as published in the JWKS. Only public members, JSON-safe. */
export type PublicJwk =
  | { kty: 'EC'; crv: 'P-256'; x: string; y: string; kid: string; alg: JwtAlg; use: 'sig' }
  | { kty: 'OKP'; crv: 'Ed25519'; x: string; kid: string; alg: JwtAlg; use: 'sig' }
  | { kty: 'RSA'; n: string; e: string; kid: string; alg: JwtAlg; use: 'sig' };

export interface SigningKeyMaterial {
  kid: string;
  alg: JwtAlg;
  privateKey: KeyObject;
  publicKey: KeyObject;
  publicJwk: PublicJwk;
}

/** Smallest RSA modulus accepted for RS256, in bits. */
export const MIN_RSA_MODULUS_BITS = 2048;

/**
 * Whether `key` (public or private) is of the type `alg` needs:
 * ES256 → EC P-256, EdDSA → Ed25519, RS256 → RSA (PKCS#1 v1.5, not RSA-PSS) of at least 2048 bits.
 */
export function keyMatchesAlg(key: KeyObject, alg: JwtAlg): boolean {
  if (key.type !== 'public' && key.type !== 'private') return false;
  switch (alg) {
    case 'ES256':
      return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
    case 'EdDSA':
      return key.asymmetricKeyType === 'ed25519';
    case 'RS256':
      return (
        key.asymmetricKeyType === 'rsa' &&
        (key.asymmetricKeyDetails?.modulusLength ?? 0) >= MIN_RSA_MODULUS_BITS
      );
    default:
      return false;
  }
}

type JwkCore =
  | { kty: 'EC'; crv: 'P-256'; x: string; y: string }
  | { kty: 'OKP'; crv: 'Ed25519'; x: string }
  | { kty: 'RSA'; n: string; e: string };

/**
 * RFC 7638 JWK thumbprint: base64url(SHA-256) of the JSON object made of the key type's
 * required members only, in lexicographic order, without whitespace.
 */
export function jwkThumbprint(jwk: JwkCore): string {
  let canonical: string;
  switch (jwk.kty) {
    case 'EC':
      canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
      break;
    case 'OKP':
      canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x });
      break;
    case 'RSA':
      canonical = JSON.stringify({ e: jwk.e, kty: jwk.kty, n: jwk.n });
      break;
  }
  return createHash('sha256').update(canonical, 'utf8').digest('base64url');
}

function publicJwkCore(publicKey: KeyObject, alg: JwtAlg): JwkCore {
  const jwk = publicKey.export({ format: 'jwk' });
  switch (alg) {
    case 'ES256':
      if (jwk.kty === 'EC' && jwk.crv === 'P-256' && jwk.x && jwk.y) {
        return { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y };
      }
      break;
    case 'EdDSA':
      if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519' && jwk.x) {
        return { kty: 'OKP', crv: 'Ed25519', x: jwk.x };
      }
      break;
    case 'RS256':
      if (jwk.kty === 'RSA' && jwk.n && jwk.e) {
        return { kty: 'RSA', n: jwk.n, e: jwk.e };
      }
      break;
  }
  throw new Error(`signing key: cannot export a ${alg} public JWK`);
}

function buildMaterial(alg: JwtAlg, kid: string | undefined, privateKey: KeyObject): SigningKeyMaterial {
  if (privateKey.type !== 'private' || !keyMatchesAlg(privateKey, alg)) {
    throw new Error(`signing key: the private key is not a valid ${alg} key`);
  }
  const publicKey = createPublicKey(privateKey);
  const core = publicJwkCore(publicKey, alg);
  const resolvedKid = kid ?? jwkThumbprint(core);
  const publicJwk: PublicJwk = { ...core, kid: resolvedKid, alg, use: 'sig' };
  return { kid: resolvedKid, alg, privateKey, publicKey, publicJwk };
}

/**
 * Generates a fresh signing key (synchronous: ES256/EdDSA take well under 1 ms, RS256 2048-bit
 * tens of milliseconds — it runs only on first start and on rotation).
 * `kid` is the RFC 7638 thumbprint of the public key.
 */
export function generateSigningKey(alg: JwtAlg): SigningKeyMaterial {
  let privateKey: KeyObject;
  switch (alg) {
    case 'ES256':
      ({ privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' }));
      break;
    case 'EdDSA':
      ({ privateKey } = generateKeyPairSync('ed25519'));
      break;
    case 'RS256':
      ({ privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 0x10001 }));
      break;
    default:
      throw new Error('signing key: unsupported algorithm');
  }
  return buildMaterial(alg, undefined, privateKey);
}

/** Private key as PKCS#8 DER (encrypt it with KeyEncryption before storing it). */
export function exportPrivateKey(key: KeyObject): Buffer {
  if (key.type !== 'private') throw new Error('signing key: only a private key can be exported');
  return key.export({ format: 'der', type: 'pkcs8' });
}

/**
 * Rebuilds a signing key (public key and JWK included) from its PKCS#8 DER private key.
 * The `kid` is taken as given (use `jwkThumbprint(material.publicJwk)` to check it if needed).
 */
export function importSigningKey(alg: JwtAlg, kid: string, pkcs8Der: Buffer): SigningKeyMaterial {
  if (typeof kid !== 'string' || kid.length === 0)
    throw new Error('signing key: kid must be a non-empty string');
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: pkcs8Der, format: 'der', type: 'pkcs8' });
  } catch {
    throw new Error('signing key: not a valid PKCS#8 DER private key');
  }
  return buildMaterial(alg, kid, privateKey);
}
