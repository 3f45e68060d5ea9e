import { Injectable } from '@nestjs/common';
import { ApiError } from '../common/errors/api-error.js';
import type { Executor } from '../database/database.types.js';
import type { User } from '../database/schema.js';
import { UsersRepository } from '../database/users.repository.js';

/** Account creation, shared by signup and the first-admin set-up. */
@Injectable()
export class UsersService {
  constructor(private readonly users: UsersRepository) {}

  /** Inserts a user (role `user` unless told); 409 email_taken if the address exists in any case. */
  async create(
    executor: Executor,
    input: { email: string; passwordHash: string; roles?: string[] },
  ): Promise<User> {
    const user = await this.users.insert(executor, { ...input, roles: input.roles ?? ['user'] });
    if (!user) throw new ApiError('email_taken', 'An account with this email already exists');
    return user;
  }
}
