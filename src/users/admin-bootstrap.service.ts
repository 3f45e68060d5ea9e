import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { AuditService } from '../audit/audit.service.js';
import { ADMIN_ROLE } from '../access/policy.js';
import { OperatorError } from '../common/errors/operator-error.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { DATABASE } from '../database/database.module.js';
import type { Database, Executor } from '../database/database.types.js';
import type { User } from '../database/schema.js';
import { UsersRepository } from '../database/users.repository.js';
import { PasswordHasher } from '../passwords/password-hasher.service.js';
import { PasswordPolicy } from '../passwords/password-policy.service.js';
import { AuthStateService } from '../sessions/auth-state.service.js';
import { EmailSchema } from './user.schemas.js';
import { UsersService } from './users.service.js';

/** What ADMIN_EMAIL did at start. */
export type FirstAdminOutcome =
  /** No active admin existed, nor an account with that email: the account was created, as admin. */
  | 'created'
  /** The account with that email is an active admin already. */
  | 'is-admin'
  /** Another account is an active admin: nothing to set up. */
  | 'admin-exists'
  /** An account with that email exists but is no active admin (why): left as it is. */
  | { account: string };

/** What `admin create` did. */
export type EnsureAdminOutcome = 'created' | 'promoted' | 'enabled' | 'promoted-and-enabled' | 'unchanged';

const AT_START = 'ADMIN_EMAIL at start';
const BY_COMMAND = 'admin create (command line)';

/**
 * The first admin, two ways:
 * - ADMIN_EMAIL + ADMIN_PASSWORD at start only ever *create* the first admin,
 *   when no active admin exists and no account has that email. They never
 *   touch an existing account: the address may belong, by now, to whoever
 *   signed up with it after the bootstrap account was deleted, and an account
 *   an admin disabled stays disabled. Otherwise they do nothing (and say why).
 * - `npm run cli -- admin create`, an explicit act of the operator on the
 *   stopped service, creates the account or makes an existing one an active
 *   admin (its password kept).
 * Each writes the audit rows of exactly what it did, with no actor (no
 * signed-in user acted) and `detail.by` naming the way.
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
    const { email, password } = this.config.admin;
    const outcome = await this.firstAdminAtStart(email, password);
    if (outcome === 'created') {
      this.logger.log('first admin created (ADMIN_EMAIL)');
    } else if (outcome === 'admin-exists') {
      this.logger.log(
        'ADMIN_EMAIL: an active admin exists, so no account was created (ADMIN_EMAIL and ADMIN_PASSWORD can be removed)',
      );
    } else if (outcome !== 'is-admin') {
      this.logger.warn(
        `ADMIN_EMAIL names an existing account that is ${outcome.account}: nothing was done, as ADMIN_EMAIL ` +
          'only ever creates a new account. To make that account an admin, an admin can change it ' +
          '(PATCH /users/:id), or run `npm run cli -- admin create --email <address>` with the service stopped.',
      );
    }
  }

  /**
   * ADMIN_EMAIL + ADMIN_PASSWORD: creates the first admin, or does nothing.
   * Instances starting together create it once (an advisory lock, then a
   * second look).
   */
  async firstAdminAtStart(rawEmail: string, password: string): Promise<FirstAdminOutcome> {
    const email = EmailSchema.safeParse(rawEmail);
    if (!email.success) throw new OperatorError('ADMIN_EMAIL is not a valid email address');
    const before = await this.firstAdminState(this.db, email.data);
    if (before !== 'none') return before;
    const problem = this.policy.check(password);
    if (problem) throw new OperatorError(`ADMIN_PASSWORD ${problem}`);
    // Hashed outside the transaction: no lock is held for the hash's duration.
    const passwordHash = await this.hasher.hash(password);
    return this.db.transaction(async (tx) => {
      await this.users.lockFirstAdminSetUp(tx);
      const state = await this.firstAdminState(tx, email.data); // another instance may have just done it
      if (state !== 'none') return state;
      await this.createAdmin(tx, email.data, passwordHash, AT_START);
      return 'created' as const;
    });
  }

  /** Whether an account has this email (any case): then ensureAdmin keeps its password. */
  async accountExists(rawEmail: string): Promise<boolean> {
    return (await this.users.findByEmail(this.db, rawEmail.trim())) !== undefined;
  }

  /** `admin create`: the account made an active admin, created if missing. Never changes a password. */
  async ensureAdmin(rawEmail: string, password: string): Promise<EnsureAdminOutcome> {
    const email = EmailSchema.safeParse(rawEmail);
    if (!email.success) throw new OperatorError('the admin email is not a valid email address');
    const existing = await this.users.findByEmail(this.db, email.data);
    if (existing) return this.makeActiveAdmin(existing.id);
    const problem = this.policy.check(password);
    if (problem) throw new OperatorError(`the admin password ${problem}`);
    const passwordHash = await this.hasher.hash(password);
    await this.db.transaction((tx) => this.createAdmin(tx, email.data, passwordHash, BY_COMMAND));
    return 'created';
  }

  private async firstAdminState(
    db: Executor,
    email: string,
  ): Promise<Exclude<FirstAdminOutcome, 'created'> | 'none'> {
    const existing = await this.users.findByEmail(db, email);
    if (existing && isActiveAdmin(existing)) return 'is-admin';
    if (existing) {
      const why = [
        existing.disabledAt !== null && 'disabled',
        !existing.roles.includes(ADMIN_ROLE) && 'not an admin',
      ];
      return { account: why.filter(Boolean).join(' and ') };
    }
    return (await this.users.hasActiveAdmin(db, ADMIN_ROLE)) ? 'admin-exists' : 'none';
  }

  private async createAdmin(tx: Executor, email: string, passwordHash: string, by: string): Promise<void> {
    const user = await this.accounts.create(tx, { email, passwordHash, roles: [ADMIN_ROLE, 'user'].sort() });
    await this.audit.record(tx, {
      type: 'signup',
      userId: user.id,
      actorId: null,
      detail: { by, roles: user.roles },
    });
  }

  /** Gives the admin role and enables the account, as needed, each change with its own audit row. */
  private async makeActiveAdmin(id: string): Promise<EnsureAdminOutcome> {
    const outcome = await this.db.transaction(async (tx): Promise<EnsureAdminOutcome> => {
      const user = await this.users.lockById(tx, id, 'update');
      if (!user) throw new OperatorError('the account was deleted meanwhile: run the command again');
      const promote = !user.roles.includes(ADMIN_ROLE);
      const enable = user.disabledAt !== null;
      if (!promote && !enable) return 'unchanged';
      const roles = promote ? [...user.roles, ADMIN_ROLE].sort() : user.roles;
      await this.users.setRolesAndStatus(tx, id, { roles, disabledAt: null });
      if (promote) {
        await this.audit.record(tx, {
          type: 'roles_changed',
          userId: id,
          actorId: null,
          detail: { from: user.roles, to: roles, by: BY_COMMAND },
        });
      }
      if (enable) {
        await this.audit.record(tx, {
          type: 'user_enabled',
          userId: id,
          actorId: null,
          detail: { by: BY_COMMAND },
        });
      }
      return promote && enable ? 'promoted-and-enabled' : promote ? 'promoted' : 'enabled';
    });
    if (outcome !== 'unchanged') this.authState.invalidateUser(id);
    return outcome;
  }
}

function isActiveAdmin(user: User): boolean {
  return user.roles.includes(ADMIN_ROLE) && user.disabledAt === null;
}
