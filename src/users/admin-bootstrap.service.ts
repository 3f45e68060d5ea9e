import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { eq } from 'drizzle-orm';
import { AuditService } from '../audit/audit.service.js';
import { ADMIN_ROLE } from '../access/policy.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { DATABASE } from '../database/database.module.js';
import type { Database } from '../database/database.types.js';
import { users } from '../database/schema.js';
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
    @Inject(UsersService) private readonly users: UsersService,
    @Inject(PasswordHasher) private readonly hasher: PasswordHasher,
    @Inject(PasswordPolicy) private readonly policy: PasswordPolicy,
    @Inject(AuditService) private readonly audit: AuditService,
    @Inject(AuthStateService) private readonly authState: AuthStateService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (!this.config.admin) return;
    const outcome = await this.ensureAdmin(this.config.admin.email, this.config.admin.password);
    if (outcome !== 'unchanged') this.logger.log(`first admin ${outcome} (ADMIN_EMAIL)`);
  }

  async ensureAdmin(rawEmail: string, password: string): Promise<EnsureAdminOutcome> {
    const email = EmailSchema.safeParse(rawEmail);
    if (!email.success) throw new Error('the admin email is not a valid email address');
    const existing = await this.users.findByEmail(email.data);
    if (existing) {
      if (existing.roles.includes(ADMIN_ROLE) && existing.disabledAt === null) return 'unchanged';
      await this.db.transaction(async (tx) => {
        const roles = [...new Set([...existing.roles, ADMIN_ROLE])].sort();
        await tx
          .update(users)
          .set({ roles, disabledAt: null, updatedAt: new Date() })
          .where(eq(users.id, existing.id));
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
      const user = await this.users.create(tx, {
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
