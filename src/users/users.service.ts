import { Inject, Injectable } from '@nestjs/common';
import { eq, sql } from 'drizzle-orm';
import { v7 as uuidv7 } from 'uuid';
import { ApiError } from '../common/errors/api-error.js';
import { DATABASE } from '../database/database.module.js';
import type { Database, Executor } from '../database/database.types.js';
import { postgresErrorCode, UNIQUE_VIOLATION } from '../database/postgres-errors.js';
import { type User, users } from '../database/schema.js';
import type { UserView } from './user.schemas.js';

/** Reads and writes user rows. Methods taking an executor join the caller's transaction. */
@Injectable()
export class UsersService {
  constructor(@Inject(DATABASE) private readonly db: Database) {}

  async findById(id: string, executor: Executor = this.db): Promise<User | undefined> {
    const [user] = await executor.select().from(users).where(eq(users.id, id)).limit(1);
    return user;
  }

  /** Case-insensitive, served by the unique index on lower(email). */
  async findByEmail(email: string, executor: Executor = this.db): Promise<User | undefined> {
    const [user] = await executor
      .select()
      .from(users)
      .where(sql`lower(${users.email}) = lower(${email})`)
      .limit(1);
    return user;
  }

  /** Inserts a user with the `user` role; 409 email_taken if the address exists in any case. */
  async create(
    executor: Executor,
    input: { email: string; passwordHash: string; roles?: string[] },
  ): Promise<User> {
    try {
      const [user] = await executor
        .insert(users)
        .values({
          id: uuidv7(),
          email: input.email,
          passwordHash: input.passwordHash,
          roles: input.roles ?? ['user'],
        })
        .returning();
      return user!;
    } catch (error) {
      if (postgresErrorCode(error) === UNIQUE_VIOLATION) {
        throw new ApiError('email_taken', 'An account with this email already exists');
      }
      throw error;
    }
  }

  async setPasswordHash(executor: Executor, userId: string, passwordHash: string): Promise<void> {
    await executor.update(users).set({ passwordHash, updatedAt: new Date() }).where(eq(users.id, userId));
  }

  /** What clients may see of a user: never the hash. */
  static view(user: User): UserView {
    return {
      id: user.id,
      email: user.email,
      roles: user.roles,
      createdAt: user.createdAt.toISOString(),
      updatedAt: user.updatedAt.toISOString(),
    };
  }
}
