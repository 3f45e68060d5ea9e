import { z } from 'zod';
import { ROLES } from '../access/policy.js';
import { pageQueryShape } from '../common/pagination/keyset.js';
import { safeText } from '../common/validation/safe-text.js';
import { EXAMPLE_USER, UserSchema } from './user.schemas.js';

export const UserIdSchema = z.uuid({ message: 'must be a UUID' });

export const UsersQuerySchema = z.strictObject({
  ...pageQueryShape,
  email: safeText(254).optional().describe('Case-insensitive prefix'),
});

export const UpdateUserSchema = z
  .strictObject({
    roles: z
      .array(z.enum(ROLES as [string, ...string[]], { message: `must be one of: ${ROLES.join(', ')}` }))
      .max(ROLES.length * 2, 'has too many entries')
      .optional()
      .describe(`Replaces the user's roles. Defined roles: ${ROLES.join(', ')}`),
    disabled: z.boolean({ message: 'must be true or false' }).optional(),
  })
  .refine((body) => body.roles !== undefined || body.disabled !== undefined, {
    message: 'give roles, disabled, or both',
  })
  .meta({ example: { roles: ['admin', 'user'] } });
export type UpdateUserBody = z.infer<typeof UpdateUserSchema>;

/** What an administrator sees of a user. */
export const AdminUserSchema = UserSchema.extend({ disabled: z.boolean() }).meta({
  example: { ...EXAMPLE_USER, disabled: false },
});
export type AdminUserView = z.infer<typeof AdminUserSchema>;
