import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { AuditService } from '../audit/audit.service.js';
import { ADMIN_ROLE } from '../access/policy.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { DATABASE } from '../database/database.module.js';
import type { Database } from '../database/database.types.js';
import { UsersRepository } from '../database/users.repository.js';
import { PasswordHasher } from '../passwords/password-hasher.service.js';
import { PasswordPolicy } from '../passwords/password-policy.service.js';
import { AuthStateService } from '../sessions/auth-state.service.js';
import { EmailSchema } from './user.schemas.js';
import { UsersService } from './users.service.js';

export type EnsureAdminOutcome = 'created' | 'promoted' | 'unchanged';

/**
 * The first admin: ADMIN_EMAIL + ADMIN_PASSWORD at start, or
 * `npm run cli -- admin create`. Creates the account if missing and makes
 * sure it has the admin role. Idempotent; never changes an existing password.
 */
@Injectable()
export class AdminBootstrapService implements OnApplicationBootstrap {
  private readonly logger = new Logger('FirstAdmin');

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(DATABASE) private readonly db: Database,
    private readonly users: UsersRepository,
    private readonly accounts: UsersService,
    private readonly hasher: PasswordHasher,
    private readonly policy: PasswordPolicy,
    private readonly audit: AuditService,
    private readonly authState: AuthStateService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (!this.config.admin) return;
    const outcome = await this.ensureAdmin(this.config.admin.email, this.config.admin.password);
    if (outcome !== 'unchanged') this.logger.log(`first admin ${outcome} (ADMIN_EMAIL)`);
  }

  /** Whether an account has this email (any case): then ensureAdmin keeps its password. */
  async accountExists(rawEmail: string): Promise<boolean> {
    return (await this.users.findByEmail(this.db, rawEmail.trim())) !== undefined;
  }

  async ensureAdmin(rawEmail: string, password: string): Promise<EnsureAdminOutcome> {
    const email = EmailSchema.safeParse(rawEmail);
    if (!email.success) throw new Error('the admin email is not a valid email address');
    const existing = await this.users.findByEmail(this.db, email.data);
    if (existing) {
      if (existing.roles.includes(ADMIN_ROLE) && existing.disabledAt === null) return 'unchanged';
      await this.db.transaction(async (tx) => {
        const roles = [...new Set([...existing.roles, ADMIN_ROLE])].sort();
        await this.users.setRolesAndStatus(tx, existing.id, { roles, disabledAt: null });
        await this.audit.record(tx, {
          type: 'roles_changed',
          userId: existing.id,
          actorId: null,
          detail: { from: existing.roles, to: roles, by: 'first-admin set-up' },
        });
      });
      this.authState.invalidateUser(existing.id);
      return 'promoted';
    }
    const problem = this.policy.check(password);
    if (problem) throw new Error(`the admin password ${problem}`);
    const passwordHash = await this.hasher.hash(password);
    await this.db.transaction(async (tx) => {
      const user = await this.accounts.create(tx, {
        email: email.data,
        passwordHash,
        roles: [ADMIN_ROLE, 'user'].sort(),
      });
      await this.audit.record(tx, {
        type: 'signup',
        userId: user.id,
        actorId: null,
        detail: { by: 'first-admin set-up', roles: user.roles },
      });
    });
    return 'created';
  }
}
