import { z } from 'zod';
import { EmailSchema } from '../users/user.schemas.js';

// Strict objects: unknown fields are refused, never ignored.

/** A link token as the front-end page read it from the link's fragment (`#token=…`). */
const LinkTokenSchema = z
  .string({ message: 'must be a string' })
  .max(512, 'is too long')
  .describe('The `token` of the link’s fragment; any token that does not work is 400 `invalid_link_token`');

/** A link token's shape (examples only: no link has it). */
const EXAMPLE_LINK_TOKEN = 'gh_lt_Zk3q9Wb2xR7mN4pT8vY1cH6jL0sD5fG3aE9uK2iO7wB';

export const LinkTokenBodySchema = z
  .strictObject({ token: LinkTokenSchema })
  .meta({ example: { token: EXAMPLE_LINK_TOKEN } });
export type LinkTokenBody = z.infer<typeof LinkTokenBodySchema>;

export const ForgotPasswordSchema = z
  .strictObject({ email: EmailSchema })
  .meta({ example: { email: 'ada@example.com' } });
export type ForgotPasswordBody = z.infer<typeof ForgotPasswordSchema>;

export const ResetPasswordSchema = z
  .strictObject({
    token: LinkTokenSchema,
    newPassword: z.string({ message: 'must be a string' }).describe('Subject to the password policy'),
  })
  .meta({ example: { token: EXAMPLE_LINK_TOKEN, newPassword: 'a new and longer passphrase' } });
export type ResetPasswordBody = z.infer<typeof ResetPasswordSchema>;

export const ChangeEmailSchema = z
  .strictObject({
    newEmail: EmailSchema,
    currentPassword: z.string({ message: 'must be a string' }).min(1, 'is required').max(4096, 'is too long'),
  })
  .meta({
    example: { newEmail: 'ada.lovelace@example.com', currentPassword: 'correct horse battery staple' },
  });
export type ChangeEmailBody = z.infer<typeof ChangeEmailSchema>;
