import { type AnyColumn, and, desc, type SQL, sql } from 'drizzle-orm';
import type { PageQuery } from '../common/pagination/keyset.js';

/**
 * Keyset pagination, newest first, on (created_at, id): the cost of a page
 * is an index range scan whatever its depth.
 */
export function keysetPage(columns: { createdAt: AnyColumn; id: AnyColumn }, query: PageQuery) {
  const after = query.cursor
    ? sql`(${columns.createdAt}, ${columns.id}) < (${query.cursor.createdAt}, ${query.cursor.id})`
    : undefined;
  return {
    where: (...conditions: (SQL | undefined)[]) => and(after, ...conditions),
    orderBy: [desc(columns.createdAt), desc(columns.id)],
    /** One more row than the page, to know whether a next page exists. */
    limit: query.limit + 1,
  };
}
