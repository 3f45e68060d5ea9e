import { Inject, Injectable } from '@nestjs/common';
import type { Principal } from '../access/principal.js';
import { ApiError } from '../common/errors/api-error.js';
import type { ClientInfo } from '../common/http/client-info.js';
import { DATABASE } from '../database/database.module.js';
import type { Database, Executor } from '../database/database.types.js';
import type { User } from '../database/schema.js';
import { UsersRepository } from '../database/users.repository.js';
import { PasswordHasher } from '../passwords/password-hasher.service.js';
import { AuthStateService } from '../sessions/auth-state.service.js';
import { SigninAttemptsService } from '../throttling/signin-attempts.service.js';
import type { UserView } from './user.schemas.js';

/**
 * Accounts: creating one (signup, first admin), showing the signed-in user, and checking its
 * current password before a sensitive change.
 */
@Injectable()
export class UsersService {
  constructor(
    @Inject(DATABASE) private readonly db: Database,
    private readonly users: UsersRepository,
    private readonly authState: AuthStateService,
    private readonly hasher: PasswordHasher,
    private readonly signinAttempts: SigninAttemptsService,
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

  /**
   * The signed-in user's row, once `password` proved to be its current password (401
   * invalid_credentials otherwise). A password guess like a signin's: someone holding a stolen
   * access token gets no more tries at it than the signin limit allows (429 beyond). The caller
   * re-checks the returned passwordHash under a lock before relying on it.
   */
  async checkCurrentPassword(userId: string, password: string, client: ClientInfo): Promise<User> {
    const user = await this.users.findById(this.db, userId);
    if (!user) throw invalidCredentials();
    const attempt = await this.signinAttempts.begin(user.email, client.ip);
    if (attempt.throttled) {
      throw new ApiError(
        'too_many_requests',
        'Too many failed password attempts; try again later',
        undefined,
        {
          'Retry-After': String(attempt.retryAfter),
        },
      );
    }
    let ok: boolean;
    try {
      ok = await this.hasher.verify(user.passwordHash, password, client.closed);
    } catch (error) {
      // Not checked (the hashing queue was full, or the client left): the attempt does not count.
      await attempt.abandoned();
      throw error;
    }
    if (!ok) {
      await attempt.failed();
      throw invalidCredentials();
    }
    await attempt.succeeded();
    return user;
  }

  /** The signed-in user, from the state the guard has just loaded (from memory on the warm path). */
  async me(principal: Principal): Promise<UserView> {
    const state = await this.authState.get(principal.sessionId);
    if (!state?.active) throw new ApiError('session_revoked', 'Session is no longer valid; sign in again');
    return {
      id: state.userId,
      email: state.email,
      roles: state.roles,
      mfaEnabled: state.mfaEnabled,
      createdAt: state.createdAt.toISOString(),
      updatedAt: state.updatedAt.toISOString(),
    };
  }
}

function invalidCredentials(): ApiError {
  return new ApiError('invalid_credentials', 'Invalid email or password');
}
