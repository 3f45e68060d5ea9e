import type { User } from '../database/schema.js';
import type { AdminUserView } from './user-admin.schemas.js';
import type { UserView } from './user.schemas.js';

/** What clients may see of a user: never the hash. */
export function userView(user: User): UserView {
  return {
    id: user.id,
    email: user.email,
    emailVerified: user.emailVerifiedAt !== null,
    roles: user.roles,
    mfaEnabled: user.mfaEnabledAt !== null,
    createdAt: user.createdAt.toISOString(),
    updatedAt: user.updatedAt.toISOString(),
  };
}

/** What an administrator sees of a user. */
export function adminUserView(user: User): AdminUserView {
  return { ...userView(user), disabled: user.disabledAt !== null };
}
