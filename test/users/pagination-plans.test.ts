import { eq, type SQL, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PageQuery } from '../../src/common/pagination/keyset.js';
import { keysetPage } from '../../src/database/keyset-page.js';
import type { DatabaseConnection } from '../../src/database/database.types.js';
import { auditEvents, users } from '../../src/database/schema.js';
import { freshDatabase } from '../support/test-app.js';

/**
 * Keyset pagination is only as good as the index behind it: the ORDER BY must
 * match the index's order exactly (NULLS FIRST/LAST included), or PostgreSQL
 * sorts the whole table for every page — invisible with a few rows, a full
 * scan at a million (the benchmark's users-page found one). Sequential and
 * bitmap scans are switched off so that the plan of an empty table shows what
 * the planner *can* do with a large one.
 */
describe('keyset pagination plans', () => {
  let connection: DatabaseConnection;
  beforeAll(async () => {
    connection = await freshDatabase();
  });
  afterAll(() => connection.close());

  const deep: PageQuery = {
    limit: 50,
    cursor: { createdAt: new Date('2026-01-01T00:00:00.000Z'), id: '01900000-0000-7000-8000-000000000000' },
  };

  async function plan(
    table: typeof users | typeof auditEvents,
    query: PageQuery,
    ...filters: (SQL | undefined)[]
  ): Promise<string> {
    return connection.db.transaction(async (tx) => {
      await tx.execute(sql`set local enable_seqscan = off`);
      await tx.execute(sql`set local enable_bitmapscan = off`);
      const page = keysetPage(table, query);
      const select = tx
        .select()
        .from(table)
        .where(page.where(...filters))
        .orderBy(...page.orderBy)
        .limit(page.limit);
      // Both drivers answer with { rows }; the Database type spans both, so it cannot say so.
      const result: unknown = await tx.execute(sql`explain ${select}`);
      return (result as { rows: Record<string, string>[] }).rows.map((row) => row['QUERY PLAN']).join('\n');
    });
  }

  for (const [name, query] of [
    ['first page', { limit: 50 }],
    ['deep page', deep],
  ] as const) {
    it(`GET /users ${name}: walks users_created_at_id_idx, no sort`, async () => {
      const text = await plan(users, query);
      expect(text).toContain('users_created_at_id_idx');
      expect(text).not.toMatch(/\bSort\b/);
    });

    it(`GET /audit-events ${name}, unfiltered and filtered: walks an index, no sort`, async () => {
      const cases: [string, SQL | undefined][] = [
        ['audit_events_created_at_id_idx', undefined],
        [
          'audit_events_user_id_created_at_idx',
          eq(auditEvents.userId, '01900000-0000-7000-8000-000000000001'),
        ],
        ['audit_events_type_created_at_idx', eq(auditEvents.type, 'signin')],
      ];
      for (const [index, filter] of cases) {
        const text = await plan(auditEvents, query, filter);
        expect(text, text).toContain(index);
        expect(text, text).not.toMatch(/\bSort\b/);
      }
    });
  }
});
