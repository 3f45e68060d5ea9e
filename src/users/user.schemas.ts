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

/** An account as the examples of the documentation show it. */
export const EXAMPLE_USER = {
  id: '0192f5e4-7c1a-7d3e-9b2a-4f6c8d0e1a2b',
  email: 'ada@example.com',
  emailVerified: true,
  roles: ['user'],
  mfaEnabled: false,
  createdAt: '2026-01-05T09:30:00.000Z',
  updatedAt: '2026-01-05T09:30:00.000Z',
};

export const UserSchema = z
  .object({
    id: z.uuid(),
    email: z.string(),
    emailVerified: z.boolean().describe('Whether the user has proven to read mail at this address'),
    roles: z.array(z.string()),
    mfaEnabled: z.boolean().describe('Signin asks for a second factor (TOTP or a recovery code)'),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .meta({ example: EXAMPLE_USER });
export type UserView = z.infer<typeof UserSchema>;
