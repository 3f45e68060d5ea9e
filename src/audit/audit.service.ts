import { Inject, Injectable } from '@nestjs/common';
import type { ClientInfo } from '../common/http/client-info.js';
import type { PageQuery } from '../common/pagination/keyset.js';
import type { AuditEventType } from '../common/security-events.js';
import { AuditEventsRepository } from '../database/audit-events.repository.js';
import { DATABASE } from '../database/database.module.js';
import type { Database, Executor } from '../database/database.types.js';
import type { AuditEventView } from './audit.schemas.js';

export interface AuditEventInput {
  type: AuditEventType;
  /** The account affected (null when there is none, e.g. a signin with an unknown email). */
  userId: string | null;
  /** Who acted; defaults to the affected user. */
  actorId?: string | null;
  client?: ClientInfo;
  /** Context for humans. Never a password, token or hash. */
  detail?: Record<string, unknown>;
}

/** Writes and reads the audit log. `record` joins the caller's transaction. */
@Injectable()
export class AuditService {
  constructor(
    @Inject(DATABASE) private readonly db: Database,
    private readonly events: AuditEventsRepository,
  ) {}

  async record(executor: Executor, event: AuditEventInput): Promise<void> {
    await this.events.insert(executor, {
      type: event.type,
      userId: event.userId,
      actorId: event.actorId === undefined ? event.userId : event.actorId,
      ip: event.client?.ip ?? null,
      userAgent: event.client?.userAgent ?? null,
      detail: event.detail ?? {},
    });
  }

  /** One page (and one row more: see finishPage). */
  async list(query: PageQuery & { userId?: string; type?: string }): Promise<AuditEventView[]> {
    const rows = await this.events.page(this.db, query);
    return rows.map((row) => ({ ...row, createdAt: row.createdAt.toISOString() }));
  }
}
