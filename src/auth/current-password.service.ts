import { Injectable } from '@nestjs/common';
import { ApiError } from '../common/errors/api-error.js';
import type { ClientInfo } from '../common/http/client-info.js';
import type { User } from '../database/schema.js';
import { PasswordHasher } from '../passwords/password-hasher.service.js';
import { SigninAttemptsService } from '../throttling/signin-attempts.service.js';

/**
 * The current password a signed-in user gives to change a password or an
 * email. It is a password guess like a signin's: someone holding a stolen
 * access token must not get more tries at it than the signin limit allows.
 */
@Injectable()
export class CurrentPasswordService {
  constructor(
    private readonly hasher: PasswordHasher,
    private readonly signinAttempts: SigninAttemptsService,
  ) {}

  /** Resolves when `password` is the user's; 401 invalid_credentials or 429 otherwise. */
  async check(user: User, password: string, client: ClientInfo): Promise<void> {
    const attempt = await this.signinAttempts.begin(user.email, client.ip);
    if (attempt.throttled) {
      throw new ApiError(
        'too_many_requests',
        'Too many failed password attempts; try again later',
        undefined,
        { 'Retry-After': String(attempt.retryAfter) },
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
      throw new ApiError('invalid_credentials', 'Invalid email or password');
    }
    await attempt.succeeded();
  }
}
