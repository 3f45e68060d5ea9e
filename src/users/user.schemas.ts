import { z } from 'zod';

/**
 * An email as the contract takes it: trimmed, at most 254 characters.
 * Case is kept as typed; comparisons use lower(email).
 */
export const EmailSchema = z
  .string({ message: 'must be a string' })
  .trim()
  .max(254, 'must be at most 254 characters')
  .pipe(z.email({ message: 'must be an email' }));

export const UserSchema = z.object({
  id: z.uuid(),
  email: z.string(),
  emailVerified: z.boolean().describe('Whether the user has proven to read mail at this address'),
  roles: z.array(z.string()),
  mfaEnabled: z.boolean().describe('Signin asks for a second factor (TOTP or a recovery code)'),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
});
export type UserView = z.infer<typeof UserSchema>;
