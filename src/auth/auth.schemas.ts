import { z } from 'zod';
import { bearerToken } from '../access/bearer-token.js';
import { ApiError } from '../common/errors/api-error.js';
import { MfaRequiredSchema } from '../mfa/mfa.schemas.js';
import { EmailSchema, UserSchema } from '../users/user.schemas.js';

// Strict objects: unknown fields (role, roles, isAdmin, …) are refused, never ignored.

/** What the documentation shows in examples (an access token is longer; a refresh token is shaped so). */
const EXAMPLE_ACCESS_TOKEN =
  'eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCIsImtpZCI6ImsxIn0.eyJzdWIiOiIwMTkyIn0.c2ln';
const EXAMPLE_REFRESH_TOKEN = 'gh_rt_3q2-7wB1xHqk0k3ZlV9n6PpQ0sJx8rTgYyH4mN2cE5A';
const EXAMPLE_CREDENTIALS = { email: 'ada@example.com', password: 'correct horse battery staple' };

export const SignupSchema = z
  .strictObject({
    email: EmailSchema,
    password: z
      .string({ message: 'must be a string' })
      .describe('8–128 characters (PASSWORD_MIN_LENGTH), not a common password; no composition rules'),
  })
  .meta({ example: EXAMPLE_CREDENTIALS });
export type SignupBody = z.infer<typeof SignupSchema>;

export const SigninSchema = z
  .strictObject({
    email: EmailSchema,
    password: z.string({ message: 'must be a string' }).min(1, 'is required').max(4096, 'is too long'),
  })
  .meta({ example: EXAMPLE_CREDENTIALS });
export type SigninBody = z.infer<typeof SigninSchema>;

export const RefreshSchema = z
  .strictObject({
    // No length limit here: anything not shaped like a refresh token is 401 invalid_refresh_token.
    refreshToken: z.string({ message: 'must be a string' }).optional(),
  })
  .optional()
  .describe('The refresh token, unless it is sent as `Authorization: Bearer <refreshToken>`')
  .meta({ example: { refreshToken: EXAMPLE_REFRESH_TOKEN } });
export type RefreshBody = z.infer<typeof RefreshSchema>;

/**
 * The refresh token a refresh request names explicitly — in `Authorization: Bearer` or the body,
 * not two different ones; undefined when it names none (then cookie mode's cookie may stand in).
 */
export function explicitRefreshToken(
  authorization: string | undefined,
  body: RefreshBody,
): string | undefined {
  const fromHeader = bearerToken(authorization);
  const fromBody = body?.refreshToken;
  if (fromHeader && fromBody && fromHeader !== fromBody) {
    throw ApiError.validation([{ field: 'refreshToken', message: 'differs from the Authorization header' }]);
  }
  return fromHeader ?? fromBody;
}

/** The query of the routes that issue a refresh token: `?cookie=1` asks for cookie mode. */
export const CookieModeQuerySchema = z.strictObject({
  cookie: z
    .literal('1', { message: 'must be 1' })
    .optional()
    .describe(
      'Cookie mode, for browser apps: the refresh token comes in an HttpOnly `Set-Cookie` instead of the ' +
        "body. The request must carry an `Origin` that is PUBLIC_URL's or one of CORS_ORIGINS (else 403 " +
        '`csrf_rejected`).',
    ),
});
export type CookieModeQuery = z.infer<typeof CookieModeQuerySchema>;

export const ChangePasswordSchema = z
  .strictObject({
    currentPassword: z.string({ message: 'must be a string' }).min(1, 'is required').max(4096, 'is too long'),
    newPassword: z.string({ message: 'must be a string' }).describe('Subject to the password policy'),
  })
  .meta({
    example: { currentPassword: 'correct horse battery staple', newPassword: 'a new and longer passphrase' },
  });
export type ChangePasswordBody = z.infer<typeof ChangePasswordSchema>;

const EXAMPLE_TOKENS = {
  accessToken: EXAMPLE_ACCESS_TOKEN,
  refreshToken: EXAMPLE_REFRESH_TOKEN,
  tokenType: 'Bearer',
  expiresIn: 900,
};

export const TokenPairSchema = z
  .object({
    accessToken: z.string().describe('A JWT: send it as `Authorization: Bearer <accessToken>`'),
    refreshToken: z
      .string()
      .optional()
      .describe(
        'Opaque; exchange it at /auth/refresh before the session ends. Absent in cookie mode ' +
          '(`?cookie=1`): it is then in the `Set-Cookie` header, out of reach of scripts.',
      ),
    tokenType: z.literal('Bearer'),
    expiresIn: z.number().int().describe('Access token lifetime in seconds'),
  })
  .meta({ example: EXAMPLE_TOKENS });
export type TokenPair = z.infer<typeof TokenPairSchema>;

export const AuthResultSchema = UserSchema.pick({ id: true, email: true, roles: true })
  .extend(TokenPairSchema.shape)
  .meta({
    example: {
      id: '0192f5e4-7c1a-7d3e-9b2a-4f6c8d0e1a2b',
      email: 'ada@example.com',
      roles: ['user'],
      ...EXAMPLE_TOKENS,
    },
  });
export type AuthResult = z.infer<typeof AuthResultSchema>;

/** POST /auth/signin: the tokens, or — with MFA on — the challenge for POST /auth/signin/mfa. */
export const SigninResultSchema = z.union([AuthResultSchema, MfaRequiredSchema]);
export type SigninResult = z.infer<typeof SigninResultSchema>;
