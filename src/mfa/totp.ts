import { randomBytes } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';

/** RFC 6238 as every authenticator app reads it: HMAC-SHA-1, 6 digits, 30-second steps. */
const ALGORITHM = 'SHA1';
const DIGITS = 6;
export const TOTP_PERIOD_SECONDS = 30;
/** Steps accepted on either side of the current one: ±30 s of clock drift. */
const WINDOW = 1;
/** 160 bits, the length of SHA-1's output (RFC 4226 §4 recommends it). */
const SECRET_BYTES = 20;

/** A new TOTP secret from the CSPRNG. */
export function generateTotpSecret(): Buffer {
  return randomBytes(SECRET_BYTES);
}

function secretOf(bytes: Buffer): Secret {
  return new Secret({ buffer: Uint8Array.from(bytes).buffer });
}

/** The secret as an authenticator app takes it typed in: base32 (RFC 4648), no padding. */
export function base32Secret(bytes: Buffer): string {
  return secretOf(bytes).base32;
}

/** The `otpauth://totp/…` URI (for a QR code) of the secret, labelled issuer:account. */
export function otpauthUrl(bytes: Buffer, issuer: string, account: string): string {
  return new TOTP({
    issuer,
    label: account,
    secret: secretOf(bytes),
    algorithm: ALGORITHM,
    digits: DIGITS,
    period: TOTP_PERIOD_SECONDS,
  }).toString();
}

/**
 * The time step (unix time / 30 s) whose code `code` is, within ±1 step of `nowMs`; undefined
 * when it is none of them. The caller still has to make sure the step was not used before.
 * otpauth compares in constant time.
 */
export function matchTotpStep(bytes: Buffer, code: string, nowMs: number): number | undefined {
  if (!/^\d{6}$/.test(code)) return undefined;
  const secret = secretOf(bytes);
  const options = { secret, algorithm: ALGORITHM, digits: DIGITS, period: TOTP_PERIOD_SECONDS };
  const delta = TOTP.validate({ ...options, token: code, timestamp: nowMs, window: WINDOW });
  if (delta === null) return undefined;
  return TOTP.counter({ period: TOTP_PERIOD_SECONDS, timestamp: nowMs }) + delta;
}
