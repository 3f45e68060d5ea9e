import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { ApiZodResponse } from '../openapi/zod-openapi.js';

/**
 * Where a page ended: the sort key of its last row. Paginated tables store
 * created_at with millisecond precision (timestamp(3)), so a JavaScript Date
 * carries it exactly and the cursor never skips a row.
 */
interface Position {
  createdAt: Date;
  id: string;
}

/** A row as listed: its createdAt a Date, or already the ISO string of one (a view). */
interface Listed {
  createdAt: Date | string;
  id: string;
}

/** Cursors are opaque to clients: base64url of the last row's sort key. */
export function encodeCursor(position: Listed): string {
  const createdAt =
    typeof position.createdAt === 'string' ? position.createdAt : position.createdAt.toISOString();
  return Buffer.from(`${createdAt}|${position.id}`).toString('base64url');
}

const CURSOR_SHAPE =
  /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)\|([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

function decodeCursor(cursor: string): Position | undefined {
  const match = CURSOR_SHAPE.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match) return undefined;
  const createdAt = new Date(match[1]!);
  // Only instants a row can have (PostgreSQL refuses year 0, for one).
  const year = createdAt.getUTCFullYear();
  return Number.isNaN(year) || year < 1970 || year > 9999 ? undefined : { createdAt, id: match[2]! };
}

/** `?limit=` and `?cursor=`, shared by every paginated list. */
export const pageQueryShape = {
  limit: z
    .string()
    .regex(/^\d{1,3}$/, 'must be a whole number from 1 to 100')
    .transform(Number)
    .pipe(
      z
        .number()
        .min(1, 'must be a whole number from 1 to 100')
        .max(100, 'must be a whole number from 1 to 100'),
    )
    .default(50),
  cursor: z
    .string()
    .max(200, 'is not a valid cursor')
    .transform((text, ctx) => {
      const position = decodeCursor(text);
      if (!position) {
        ctx.addIssue({ code: 'custom', message: 'is not a valid cursor' });
        return z.NEVER;
      }
      return position;
    })
    .optional(),
};

export interface PageQuery {
  limit: number;
  cursor?: Position;
}

/**
 * Trims the extra row and, when there is a next page, sets
 * `Link: <path?…&cursor=…>; rel="next"` keeping the other query parameters.
 */
export function finishPage<Row extends Listed>(
  rows: Row[],
  query: PageQuery,
  reply: FastifyReply,
  path: string,
  filters: Record<string, string | undefined>,
): Row[] {
  if (rows.length <= query.limit) return rows;
  const page = rows.slice(0, query.limit);
  const params = new URLSearchParams();
  params.set('limit', String(query.limit));
  for (const [name, value] of Object.entries(filters)) if (value !== undefined) params.set(name, value);
  params.set('cursor', encodeCursor(page.at(-1)!));
  void reply.header('link', `<${path}?${params.toString()}>; rel="next"`);
  return page;
}

/** Documents a paged list: a JSON array of `item`, and the `Link` header to the next page when there is one. */
export function ApiPage(item: z.ZodType): ReturnType<typeof ApiZodResponse> {
  return ApiZodResponse(200, z.array(item), 'A page, newest first', {
    Link: {
      description:
        'Sent when more items follow: `<path?limit=…&cursor=…>; rel="next"` (a relative URL; the other ' +
        'query parameters are kept). No `Link`: this is the last page.',
      schema: {
        type: 'string',
        example: '</users?limit=50&cursor=MjAyNi0wMS0wMVQwMDowMDowMC4wMDBafDAxOTI>; rel="next"',
      },
    },
  });
}
