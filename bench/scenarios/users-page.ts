import { call } from '../lib/api.js';
import type { BenchContext } from '../lib/context.js';
import { cannon, drain } from '../lib/load.js';
import { type Position, seededPosition } from '../lib/users-table.js';

const LIMIT = 50;
/** An admin listing is not a high-concurrency path: fewer connections than the token paths. */
const MAX_CONNECTIONS = 10;

/** The service's cursor format (checked against its Link header before use). */
function encodeCursor(position: Position): string {
  return Buffer.from(`${position.createdAt.toISOString()}|${position.id}`).toString('base64url');
}

function nextCursor(link: string | null): string | undefined {
  const match = link ? /[?&]cursor=([^&>]+)/.exec(link) : null;
  return match ? decodeURIComponent(match[1]!) : undefined;
}

/**
 * A cursor about 90 % of the way down the list. Computed from the seeded
 * rows' known positions when the service's cursors have the expected form;
 * otherwise found by following `Link` from the first page, as long as time allows.
 */
async function deepCursor(
  ctx: BenchContext,
  token: string,
): Promise<{ cursor: string; offset: number; how: string }> {
  const base = ctx.service.base;
  const first = await call(base, 'GET', `/users?limit=${LIMIT}`, { token });
  if (first.status !== 200) throw new Error(`GET /users: ${first.status} ${JSON.stringify(first.body)}`);
  const items = first.body as { id: string; createdAt: string }[];
  const last = items.at(-1)!;
  const fromLink = nextCursor(first.headers.get('link'));
  const nonSeeded = ctx.warm.length + 1; // the admin and the signed-up users are the newest rows

  if (fromLink && fromLink === encodeCursor({ createdAt: new Date(last.createdAt), id: last.id })) {
    const index = Math.max(2, Math.round(ctx.seeded * 0.1));
    const cursor = encodeCursor(seededPosition(ctx.plan, index));
    const check = await call(base, 'GET', `/users?limit=${LIMIT}&cursor=${cursor}`, { token });
    const expectedFirst = seededPosition(ctx.plan, index - 1).id;
    const rows = check.body as { id: string }[];
    if (check.status === 200 && rows.length === LIMIT && rows[0]?.id === expectedFirst) {
      return { cursor, offset: ctx.seeded - index + 1 + nonSeeded, how: 'computed from the seed' };
    }
  }

  // Fallback: walk the pages (100 rows each) for at most 60 s.
  const target = Math.round((ctx.seeded + nonSeeded) * 0.9);
  const deadline = Date.now() + 60_000;
  let cursor = fromLink;
  let offset = LIMIT;
  while (cursor && offset < target && Date.now() < deadline) {
    const page = await call(base, 'GET', `/users?limit=100&cursor=${encodeURIComponent(cursor)}`, { token });
    if (page.status !== 200) break;
    offset += (page.body as unknown[]).length;
    const next = nextCursor(page.headers.get('link'));
    if (!next) break;
    cursor = next;
  }
  if (!cursor) throw new Error('GET /users gave no next-page cursor');
  return { cursor, offset, how: 'followed Link headers' };
}

/** users-page: the first page and a page ~90 % deep, alternating, at the current table size. */
export async function usersPage(ctx: BenchContext, label: string): Promise<void> {
  const { settings: s, section } = ctx;
  const token = ctx.admin.session.accessToken;
  const headers = { authorization: `Bearer ${token}` };
  const deep = await deepCursor(ctx, token);
  const firstPath = `/users?limit=${LIMIT}`;
  const deepPath = `/users?limit=${LIMIT}&cursor=${encodeURIComponent(deep.cursor)}`;
  const connections = Math.min(s.connections, MAX_CONNECTIONS);
  const load = async (path: string) => {
    const m = await cannon({ base: ctx.service.base, path, headers, connections, duration: s.duration });
    const drained = await drain(ctx.service.base, path, headers);
    return { m, note: drained > 1 ? `; ${drained.toFixed(0)} s to drain the queue after the run` : '' };
  };

  const runs: {
    first: { rps: number; p50: number; p99: number };
    deep: { rps: number; p50: number; p99: number };
  }[] = [];
  for (let run = 1; run <= s.runs; run++) {
    const a = await load(firstPath);
    const first = section.add(`users-page first @${label}`, run, a.m, {
      note: `limit ${LIMIT}, ${connections} connections${a.note}`,
    });
    const b = await load(deepPath);
    const deepRow = section.add(`users-page deep @${label}`, run, b.m, {
      note: `offset ≈ ${deep.offset.toLocaleString('en-US')} (${deep.how})${b.note}`,
    });
    runs.push({
      first: { rps: first.rps, p50: first.p50, p99: first.p99 },
      deep: { rps: deepRow.rps, p50: deepRow.p50, p99: deepRow.p99 },
    });
  }
  const pages = (ctx.section.scenarios['users-page'] ??= {}) as Record<string, unknown>;
  pages[label] = {
    users: ctx.seeded + ctx.warm.length + 1,
    connections,
    deepOffset: deep.offset,
    cursor: deep.how,
    runs,
  };
}
