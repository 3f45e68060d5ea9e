import { Injectable } from '@nestjs/common';
import { and, asc, gt, gte, inArray, lt } from 'drizzle-orm';
import type { Executor } from './database.types.js';
import { type RevocationEventRow, revocationEvents } from './schema.js';

/**
 * The revocation feed (table revocation_events). Rows are written by the triggers of migration 0011
 * only; the service reads them and the retention job deletes old ones.
 */
@Injectable()
export class RevocationEventsRepository {
  /** Events recorded after `after` (those that still matter) and at or after `since`, oldest first. */
  async since(db: Executor, after: Date, since?: Date): Promise<RevocationEventRow[]> {
    const conditions = [gt(revocationEvents.revokedAt, after)];
    if (since) conditions.push(gte(revocationEvents.revokedAt, since));
    return db
      .select()
      .from(revocationEvents)
      .where(and(...conditions))
      .orderBy(asc(revocationEvents.revokedAt), asc(revocationEvents.id));
  }

  /** Deletes up to `batch` events recorded before `before`; returns how many. */
  async purgeOlderThan(db: Executor, before: Date, batch: number): Promise<number> {
    const doomed = db
      .select({ id: revocationEvents.id })
      .from(revocationEvents)
      .where(lt(revocationEvents.revokedAt, before))
      .limit(batch);
    const gone = await db
      .delete(revocationEvents)
      .where(inArray(revocationEvents.id, doomed))
      .returning({ id: revocationEvents.id });
    return gone.length;
  }
}
