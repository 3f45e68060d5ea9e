import { Injectable } from '@nestjs/common';
import type { Principal } from '../access/principal.js';
import { ApiError } from '../common/errors/api-error.js';
import type { Executor } from '../database/database.types.js';
import type { User } from '../database/schema.js';
import { UsersRepository } from '../database/users.repository.js';
import { AuthStateService } from '../sessions/auth-state.service.js';
import type { UserView } from './user.schemas.js';

/** Accounts: creating one (signup, first admin) and showing the signed-in user. */
@Injectable()
export class UsersService {
  constructor(
    private readonly users: UsersRepository,
    private readonly authState: AuthStateService,
  ) {}

  /** Inserts a user (role `user` unless told); 409 email_taken if the address exists in any case. */
  async create(
    executor: Executor,
    input: { email: string; passwordHash: string; roles?: string[] },
  ): Promise<User> {
    const user = await this.users.insert(executor, { ...input, roles: input.roles ?? ['user'] });
    if (!user) throw new ApiError('email_taken', 'An account with this email already exists');
    return user;
  }

  /** The signed-in user, from the state the guard has just loaded (from memory on the warm path). */
  async me(principal: Principal): Promise<UserView> {
    const state = await this.authState.get(principal.sessionId);
    if (!state?.active) throw new ApiError('session_revoked', 'Session is no longer valid; sign in again');
    return {
      id: state.userId,
      email: state.email,
      emailVerified: state.emailVerified,
      roles: state.roles,
      mfaEnabled: state.mfaEnabled,
      createdAt: state.createdAt.toISOString(),
      updatedAt: state.updatedAt.toISOString(),
    };
  }
}
