import { Inject, Injectable } from '@nestjs/common';
import { AuditService } from '../audit/audit.service.js';
import { ADMIN_ROLE } from '../access/policy.js';
import type { Principal } from '../access/principal.js';
import { ApiError } from '../common/errors/api-error.js';
import type { PageQuery } from '../common/pagination/keyset.js';
import { DATABASE } from '../database/database.module.js';
import type { Database, Transaction } from '../database/database.types.js';
import type { User } from '../database/schema.js';
import { UsersRepository } from '../database/users.repository.js';
import { AuthStateService } from '../sessions/auth-state.service.js';
import type { ClientInfo } from '../common/http/client-info.js';
import { SessionsService } from '../sessions/sessions.service.js';
import type { AdminUserView, UpdateUserBody } from './user-admin.schemas.js';
import { adminUserView } from './user.views.js';

/**
 * Users administration: listing, role and status changes, deletion. Every
 * change is one transaction with its audit event, and the last active
 * admin is protected inside that transaction (see lockActiveAdmins).
 */
@Injectable()
export class UserAdminService {
  constructor(
    @Inject(DATABASE) private readonly db: Database,
    private readonly users: UsersRepository,
    private readonly audit: AuditService,
    private readonly sessions: SessionsService,
    private readonly authState: AuthStateService,
  ) {}

  /** One page (and one row more: see finishPage). */
  async list(query: PageQuery & { email?: string }): Promise<AdminUserView[]> {
    return (await this.users.page(this.db, query)).map(adminUserView);
  }

  async get(id: string): Promise<AdminUserView> {
    return adminUserView(await this.find(id));
  }

  async update(
    id: string,
    body: UpdateUserBody,
    actor: Principal,
    client: ClientInfo,
  ): Promise<AdminUserView> {
    const updated = await this.db.transaction(async (tx) => {
      const admins = await this.lockActiveAdmins(tx);
      const user = await this.lockUser(tx, id);
      const roles = body.roles ? [...new Set(body.roles)].sort() : user.roles;
      const disabled = body.disabled ?? user.disabledAt !== null;
      const staysActiveAdmin = roles.includes(ADMIN_ROLE) && !disabled;
      if (admins.has(user.id) && !staysActiveAdmin && admins.size === 1) throw lastAdmin();

      const rolesChanged = !sameSet(roles, user.roles);
      const disabledChanged = disabled !== (user.disabledAt !== null);
      if (!rolesChanged && !disabledChanged) return user;

      const row = await this.users.setRolesAndStatus(tx, id, {
        roles,
        disabledAt: disabledChanged ? (disabled ? new Date() : null) : user.disabledAt,
      });
      const event = { userId: id, actorId: actor.userId, client };
      if (rolesChanged) {
        await this.audit.record(tx, {
          ...event,
          type: 'roles_changed',
          detail: { from: user.roles, to: roles },
        });
      }
      if (disabledChanged && disabled) {
        // Re-enabling later must not bring old tokens back to life.
        const revoked = await this.sessions.revokeAll(tx, id, 'user_disabled');
        await this.audit.record(tx, {
          ...event,
          type: 'user_disabled',
          detail: { revokedSessions: revoked },
        });
      } else if (disabledChanged) {
        await this.audit.record(tx, { ...event, type: 'user_enabled' });
      }
      return row!;
    });
    this.authState.invalidateUser(id);
    return adminUserView(updated);
  }

  async delete(id: string, actor: Principal, client: ClientInfo): Promise<void> {
    await this.db.transaction(async (tx) => {
      const admins = await this.lockActiveAdmins(tx);
      const user = await this.lockUser(tx, id);
      if (admins.has(user.id) && admins.size === 1) throw lastAdmin();
      // Sessions and refresh tokens go with the row (ON DELETE CASCADE); audit events stay.
      await this.users.delete(tx, id);
      await this.audit.record(tx, {
        type: 'user_deleted',
        userId: id,
        actorId: actor.userId,
        client,
        detail: { email: user.email, roles: user.roles },
      });
    });
    this.authState.invalidateUser(id);
  }

  async endSessions(id: string, actor: Principal, client: ClientInfo): Promise<void> {
    await this.find(id);
    await this.sessions.endAll(id, actor.userId, client);
  }

  private async find(id: string): Promise<User> {
    const user = await this.users.findById(this.db, id);
    if (!user) throw notFound();
    return user;
  }

  /**
   * Locks every active admin's row, in id order, and returns their ids.
   * Two transactions that each demote a different admin queue here; the
   * second re-reads after the first commits and sees one admin fewer, so
   * "the last active admin" holds under concurrency, not only in code.
   */
  private lockActiveAdmins(tx: Transaction): Promise<Set<string>> {
    return this.users.lockActiveAdminIds(tx, ADMIN_ROLE);
  }

  private async lockUser(tx: Transaction, id: string): Promise<User> {
    const user = await this.users.lockById(tx, id, 'update');
    if (!user) throw notFound();
    return user;
  }
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((item) => b.includes(item)) && b.every((item) => a.includes(item));
}

function notFound(): ApiError {
  return new ApiError('not_found', 'User not found');
}

function lastAdmin(): ApiError {
  return new ApiError('last_admin', 'This is the last active admin: promote another admin first');
}
