import { Injectable } from '@nestjs/common';
import { eq, inArray, lt } from 'drizzle-orm';
import { v7 as uuidv7 } from 'uuid';
import type { PageQuery } from '../common/pagination/keyset.js';
import type { Executor } from './database.types.js';
import { keysetPage } from './keyset-page.js';
import { type AuditEventRow, auditEvents } from './schema.js';

/** The SQL of the `audit_events` table. Every method runs on the caller's executor (db or transaction). */
@Injectable()
export class AuditEventsRepository {
  async insert(db: Executor, event: Omit<AuditEventRow, 'id' | 'createdAt'>): Promise<void> {
    await db.insert(auditEvents).values({ id: uuidv7(), ...event });
  }

  /** One page, newest first, optionally of one user and/or one type. */
  async page(db: Executor, query: PageQuery & { userId?: string; type?: string }): Promise<AuditEventRow[]> {
    const page = keysetPage(auditEvents, query);
    return db
      .select()
      .from(auditEvents)
      .where(
        page.where(
          query.userId ? eq(auditEvents.userId, query.userId) : undefined,
          query.type ? eq(auditEvents.type, query.type) : undefined,
        ),
      )
      .orderBy(...page.orderBy)
      .limit(page.limit);
  }

  /** Deletes up to `batch` events created before `cutoff`; returns how many. */
  async purgeOlderThan(db: Executor, cutoff: Date, batch: number): Promise<number> {
    const doomed = db
      .select({ id: auditEvents.id })
      .from(auditEvents)
      .where(lt(auditEvents.createdAt, cutoff))
      .limit(batch);
    const gone = await db
      .delete(auditEvents)
      .where(inArray(auditEvents.id, doomed))
      .returning({ id: auditEvents.id });
    return gone.length;
  }
}
