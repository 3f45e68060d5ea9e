import { Inject, Injectable } from '@nestjs/common';
import { ApiError } from '../common/errors/api-error.js';
import type { ClientInfo } from '../common/http/client-info.js';
import { DATABASE } from '../database/database.module.js';
import type { Database } from '../database/database.types.js';
import type { User } from '../database/schema.js';
import { UsersRepository } from '../database/users.repository.js';
import { PasswordHasher } from '../passwords/password-hasher.service.js';
import { SigninAttemptsService } from '../throttling/signin-attempts.service.js';

/**
 * The signed-in user's current password, asked again before a sensitive change (a new password,
 * setting up MFA). A guess at it is a guess like a signin's: someone holding a stolen access
 * token gets no more tries than the signin limit allows.
 */
@Injectable()
export class CurrentPasswordService {
  constructor(
    @Inject(DATABASE) private readonly db: Database,
    private readonly users: UsersRepository,
    private readonly hasher: PasswordHasher,
    private readonly signinAttempts: SigninAttemptsService,
  ) {}

  /**
   * The user's row once `password` proved to be its current password: 401 invalid_credentials
   * otherwise, 429 beyond SIGNIN_MAX_FAILURES. The caller re-checks the returned passwordHash
   * under a lock before relying on it.
   */
  async check(userId: string, password: string, client: ClientInfo): Promise<User> {
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
}

function invalidCredentials(): ApiError {
  return new ApiError('invalid_credentials', 'Invalid email or password');
}
