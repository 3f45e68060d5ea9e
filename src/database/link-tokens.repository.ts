import { Injectable } from '@nestjs/common';
import { and, eq, gt, inArray, isNull, lt, or, sql } from 'drizzle-orm';
import { v7 as uuidv7 } from 'uuid';
import type { Executor } from './database.types.js';
import { linkTokens } from './schema.js';

/** Why a link stopped working before its expiry: stored in link_tokens.ended_reason. */
export type LinkEndReason = 'used' | 'superseded' | 'revoked';

/** What a used link stands for. */
export interface UsedLink {
  id: string;
  userId: string;
  /** The address the link was sent to. */
  email: string;
}

/**
 * The SQL of the `link_tokens` table. Every method runs on the caller's
 * executor (db or transaction); times are the database's own (`now()`), so
 * that instances with skewed clocks agree on expiry.
 */
@Injectable()
export class LinkTokensRepository {
  /**
   * Ends the user's live links of `kind` (superseded by the one about to be
   * made) and inserts the new one, valid for `ttlSeconds`; returns its expiry.
   */
  async replace(
    db: Executor,
    link: { userId: string; kind: string; email: string; tokenHash: Buffer; ttlSeconds: number },
  ): Promise<Date> {
    await db
      .update(linkTokens)
      .set({ endedAt: sql`now()`, endedReason: 'superseded' })
      .where(
        and(eq(linkTokens.userId, link.userId), eq(linkTokens.kind, link.kind), isNull(linkTokens.endedAt)),
      );
    const [row] = await db
      .insert(linkTokens)
      .values({
        id: uuidv7(),
        userId: link.userId,
        kind: link.kind,
        email: link.email,
        tokenHash: link.tokenHash,
        expiresAt: sql`now() + make_interval(secs => ${link.ttlSeconds})`,
      })
      .returning({ expiresAt: linkTokens.expiresAt });
    return row!.expiresAt;
  }

  /**
   * Uses a link: one statement, so that of any number of concurrent uses of
   * one token exactly one finds it live (the others wait for its row lock,
   * then see it ended). Undefined when the token is unknown, of another kind,
   * ended or expired.
   */
  async use(db: Executor, tokenHash: Buffer, kind: string): Promise<UsedLink | undefined> {
    const [row] = await db
      .update(linkTokens)
      .set({ endedAt: sql`now()`, endedReason: 'used' })
      .where(
        and(
          eq(linkTokens.tokenHash, tokenHash),
          eq(linkTokens.kind, kind),
          isNull(linkTokens.endedAt),
          gt(linkTokens.expiresAt, sql`now()`),
        ),
      )
      .returning({ id: linkTokens.id, userId: linkTokens.userId, email: linkTokens.email });
    return row;
  }

  /** The user a token of `kind` belongs to, live or not (to lock the user before using it). */
  async ownerOf(db: Executor, tokenHash: Buffer, kind: string): Promise<string | undefined> {
    const [row] = await db
      .select({ userId: linkTokens.userId })
      .from(linkTokens)
      .where(and(eq(linkTokens.tokenHash, tokenHash), eq(linkTokens.kind, kind)))
      .limit(1);
    return row?.userId;
  }

  /** Whether the token is live now (a cheap check before costly work; `use` decides). */
  async isLive(db: Executor, tokenHash: Buffer, kind: string): Promise<boolean> {
    const rows = await db
      .select({ id: linkTokens.id })
      .from(linkTokens)
      .where(
        and(
          eq(linkTokens.tokenHash, tokenHash),
          eq(linkTokens.kind, kind),
          isNull(linkTokens.endedAt),
          gt(linkTokens.expiresAt, sql`now()`),
        ),
      )
      .limit(1);
    return rows.length > 0;
  }

  /** Ends every live link of the user; returns how many. */
  async endAllOfUser(db: Executor, userId: string, reason: LinkEndReason): Promise<number> {
    const ended = await db
      .update(linkTokens)
      .set({ endedAt: sql`now()`, endedReason: reason })
      .where(
        and(eq(linkTokens.userId, userId), isNull(linkTokens.endedAt), gt(linkTokens.expiresAt, sql`now()`)),
      )
      .returning({ id: linkTokens.id });
    return ended.length;
  }

  /** Deletes up to `batch` links that ended or expired before `cutoff`; returns how many. */
  async purgeEndedBefore(db: Executor, cutoff: Date, batch: number): Promise<number> {
    const doomed = db
      .select({ id: linkTokens.id })
      .from(linkTokens)
      .where(or(lt(linkTokens.expiresAt, cutoff), lt(linkTokens.endedAt, cutoff)))
      .limit(batch);
    const gone = await db
      .delete(linkTokens)
      .where(inArray(linkTokens.id, doomed))
      .returning({ id: linkTokens.id });
    return gone.length;
  }
}
