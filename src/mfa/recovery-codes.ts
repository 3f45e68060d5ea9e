import { createHash, randomInt } from 'node:crypto';

/** Crockford's base32: no I, L, O or U, so that a code read aloud or copied by hand survives. */
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
/** 25 characters of 5 bits: 125 bits, above the 112 under which ASVS 6.5.2 wants a salted slow hash. */
const LENGTH = 25;
const GROUP = 5;
export const RECOVERY_CODE_COUNT = 10;
const SHAPE = new RegExp(`^[${ALPHABET}]{${LENGTH}}$`);

/** Ten new codes from the CSPRNG, as shown to the user: `xxxxx-xxxxx-xxxxx-xxxxx-xxxxx`. */
export function generateRecoveryCodes(): string[] {
  return Array.from({ length: RECOVERY_CODE_COUNT }, () => {
    let code = '';
    for (let i = 0; i < LENGTH; i++) {
      if (i > 0 && i % GROUP === 0) code += '-';
      code += ALPHABET[randomInt(ALPHABET.length)];
    }
    return code;
  });
}

/**
 * A recovery code as typed (any case, hyphens or spaces, O for 0, I or L for 1) in its one
 * canonical form; undefined when it cannot be one.
 */
export function normalizeRecoveryCode(typed: string): string | undefined {
  const code = typed.toLowerCase().replace(/[\s-]/g, '').replace(/o/g, '0').replace(/[il]/g, '1');
  return SHAPE.test(code) ? code : undefined;
}

/**
 * What the database stores instead of a code. SHA-256 without salt is enough: each code has
 * 125 random bits, so no dictionary or brute force applies (ASVS 6.5.2 allows a standard hash
 * from 112 bits), and a deterministic hash lets a use be one atomic UPDATE.
 */
export function hashRecoveryCode(normalized: string): Buffer {
  return createHash('sha256').update(normalized).digest();
}
