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

/** Ten recovery codes as the API shows them (examples only: no account has them). */
const EXAMPLE_RECOVERY_CODES = [
  '7k2m9-q4w8x-3h5tn-b6c1d-9ewz2',
  'p3r8v-2n6j4-hx7ka-5m9q1-c8tb3',
  'zd4w6-8y2e1-km3p9-r5v7h-0naq6',
  'f9b2c-6t4x8-1wj5e-q7m3z-2hk9r',
  'n5h1a-3z9d7-v2p6y-8r4kc-6qw0e',
  'x2c7f-9k1m3-e5t8b-4h6nz-1jv7p',
  'e8q3y-1r5w9-b7d2m-6k0xh-3ta5c',
  'h4j6n-7p2a8-z3c1e-9x5vr-5mk2w',
  'v1w9k-5d3h6-q8n4t-2c7yb-7pe4j',
  'b6t0z-4e8r2-j1x7q-3v9mh-8ca1n',
];

const RECOVERY_CODE_MESSAGE = 'must be a recovery code (25 letters and digits, hyphens optional)';

/** A recovery code as typed: any case, hyphens and spaces optional. */
const RecoveryCode = z
  .string({ message: 'must be a string' })
  .max(64, 'is too long')
  .refine((code) => normalizeRecoveryCode(code) !== undefined, RECOVERY_CODE_MESSAGE)
  .describe('One of the recovery codes, e.g. `7k2m9-q4w8x-…` (each works once)');

export const EnrolTotpSchema = z
  .strictObject({
    currentPassword: z.string({ message: 'must be a string' }).min(1, 'is required').max(4096, 'is too long'),
  })
  .meta({ example: { currentPassword: 'correct horse battery staple' } });
export type EnrolTotpBody = z.infer<typeof EnrolTotpSchema>;

export const TotpEnrolmentSchema = z
  .object({
    secret: z.string().describe('The TOTP secret in base32, for typing into an authenticator app'),
    otpauthUrl: z.string().describe('`otpauth://totp/…` URI of the same secret, for a QR code'),
  })
  .meta({
    example: {
      secret: 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP',
      otpauthUrl:
        'otpauth://totp/Gatehouse:ada%40example.com?issuer=Gatehouse&secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP' +
        '&algorithm=SHA1&digits=6&period=30',
    },
  });
export type TotpEnrolment = z.infer<typeof TotpEnrolmentSchema>;

export const TotpCodeSchema = z.strictObject({ code: TotpCode }).meta({ example: { code: '492039' } });
export type TotpCodeBody = z.infer<typeof TotpCodeSchema>;

export const RecoveryCodesSchema = z
  .object({
    recoveryCodes: z
      .array(z.string())
      .length(RECOVERY_CODE_COUNT)
      .describe('Single-use codes for when the authenticator is lost. Shown this once: store them safely'),
  })
  .meta({ example: { recoveryCodes: EXAMPLE_RECOVERY_CODES } });
export type RecoveryCodes = z.infer<typeof RecoveryCodesSchema>;

/** A TOTP code or a recovery code, told apart by shape. */
export const AnyCodeSchema = z
  .strictObject({
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
  })
  .meta({ example: { code: '492039' } });
export type AnyCodeBody = z.infer<typeof AnyCodeSchema>;

export const MFA_METHODS = ['totp', 'recovery_code'] as const;

const EXAMPLE_MFA_TOKEN = 'gh_mfa_T2p8Xr4kW9mZ1qB6vN3sH7cJ0yL5dF2gA8eU4iO9wKs';

/** The password step's answer when the account has MFA on: no tokens yet. */
export const MfaRequiredSchema = z
  .object({
    mfaRequired: z.literal(true),
    mfaToken: z.string().describe('Opaque; for POST /auth/signin/mfa within 5 minutes, up to 5 wrong codes'),
    methods: z.array(z.enum(MFA_METHODS)).describe('The second factors POST /auth/signin/mfa accepts'),
  })
  .meta({ example: { mfaRequired: true, mfaToken: EXAMPLE_MFA_TOKEN, methods: ['totp', 'recovery_code'] } });
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
  })
  .meta({ example: { mfaToken: EXAMPLE_MFA_TOKEN, code: '492039' } });
export type SigninMfaBody = z.infer<typeof SigninMfaSchema>;
