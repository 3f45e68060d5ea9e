import { z } from 'zod';
import { normalizeRecoveryCode, RECOVERY_CODE_COUNT } from './recovery-codes.js';
import type { SecondFactor } from './second-factor.service.js';

// Strict objects: unknown fields are refused, never ignored.

/** A TOTP code as an app shows it; spaces (`123 456`) are dropped. */
const TotpCode = z
  .string({ message: 'must be a string' })
  .max(32, 'is too long')
  .transform((code) => code.replace(/\s/g, ''))
  .pipe(z.string().regex(/^\d{6}$/, 'must be the 6 digits of the authenticator app'))
  .describe('The 6-digit code of the authenticator app');

const RECOVERY_CODE_MESSAGE = 'must be a recovery code (25 letters and digits, hyphens optional)';

/** A recovery code as typed: any case, hyphens and spaces optional. */
const RecoveryCode = z
  .string({ message: 'must be a string' })
  .max(64, 'is too long')
  .refine((code) => normalizeRecoveryCode(code) !== undefined, RECOVERY_CODE_MESSAGE)
  .describe('One of the recovery codes, e.g. `7k2m9-q4w8x-…` (each works once)');

export const EnrolTotpSchema = z.strictObject({
  currentPassword: z.string({ message: 'must be a string' }).min(1, 'is required').max(4096, 'is too long'),
});
export type EnrolTotpBody = z.infer<typeof EnrolTotpSchema>;

export const TotpEnrolmentSchema = z.object({
  secret: z.string().describe('The TOTP secret in base32, for typing into an authenticator app'),
  otpauthUrl: z.string().describe('`otpauth://totp/…` URI of the same secret, for a QR code'),
});
export type TotpEnrolment = z.infer<typeof TotpEnrolmentSchema>;

export const TotpCodeSchema = z.strictObject({ code: TotpCode });
export type TotpCodeBody = z.infer<typeof TotpCodeSchema>;

export const RecoveryCodesSchema = z.object({
  recoveryCodes: z
    .array(z.string())
    .length(RECOVERY_CODE_COUNT)
    .describe('Single-use codes for when the authenticator is lost. Shown this once: store them safely'),
});
export type RecoveryCodes = z.infer<typeof RecoveryCodesSchema>;

/** A TOTP code or a recovery code, told apart by shape. */
export const AnyCodeSchema = z.strictObject({
  code: z
    .string({ message: 'must be a string' })
    .max(64, 'is too long')
    .refine(
      (code) => /^\d{6}$/.test(code.replace(/\s/g, '')) || normalizeRecoveryCode(code) !== undefined,
      'must be the 6 digits of the authenticator app or a recovery code',
    )
    .transform((code): SecondFactor => {
      const digits = code.replace(/\s/g, '');
      return /^\d{6}$/.test(digits) ? { totp: digits } : { recoveryCode: code };
    })
    .describe('The 6-digit code of the authenticator app, or a recovery code'),
});
export type AnyCodeBody = z.infer<typeof AnyCodeSchema>;

export const MFA_METHODS = ['totp', 'recovery_code'] as const;

/** The password step's answer when the account has MFA on: no tokens yet. */
export const MfaRequiredSchema = z.object({
  mfaRequired: z.literal(true),
  mfaToken: z.string().describe('Opaque; for POST /auth/signin/mfa within 5 minutes, up to 5 wrong codes'),
  methods: z.array(z.enum(MFA_METHODS)).describe('The second factors POST /auth/signin/mfa accepts'),
});
export type MfaRequired = z.infer<typeof MfaRequiredSchema>;

export const SigninMfaSchema = z
  .strictObject({
    mfaToken: z
      .string({ message: 'must be a string' })
      .max(128, 'is too long')
      .describe('From POST /auth/signin'),
    code: TotpCode.optional(),
    recoveryCode: RecoveryCode.optional(),
  })
  .refine((body) => (body.code === undefined) !== (body.recoveryCode === undefined), {
    message: 'give either code or recoveryCode',
    path: ['code'],
  });
export type SigninMfaBody = z.infer<typeof SigninMfaSchema>;
