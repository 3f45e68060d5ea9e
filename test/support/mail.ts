import { sql } from 'drizzle-orm';
import type { DatabaseConnection } from '../../src/database/database.types.js';
import { until } from './load.js';
import type { TestSmtpServer } from './smtp-server.js';
import { NO_THROTTLE } from './tokens.js';

/** The public URL of the mail tests: every link must start with it, whatever a request said. */
export const PUBLIC_URL = 'https://auth.example.test';

/**
 * Environment for a suite that sends mail through `smtp`: retries a second
 * apart (not 30 s), the throttles out of the way, a public URL of its own.
 */
export function mailEnv(smtp: TestSmtpServer, env: Record<string, string> = {}): Record<string, string> {
  return {
    ...NO_THROTTLE,
    PUBLIC_URL,
    SMTP_URL: smtp.url,
    MAIL_RETRY_DELAY: '1',
    MAIL_SEND_TIMEOUT: '10',
    MAIL_PER_ADDRESS_PER_HOUR: '1000',
    ...env,
  };
}

export interface OutboxRow {
  id: string;
  kind: string;
  recipient: string;
  status: string;
  attempts: number;
  last_error: string | null;
}

/** The outbox, oldest first. */
export async function outbox(connection: DatabaseConnection): Promise<OutboxRow[]> {
  const result: unknown = await connection.db.execute(
    sql`select id, kind, recipient, status, attempts, last_error from mail_outbox order by created_at, id`,
  );
  return (result as { rows: OutboxRow[] }).rows;
}

/** Waits until no mail is pending (all sent, cancelled or failed). */
export async function outboxSettled(
  connection: DatabaseConnection,
  timeoutMs = 60_000,
): Promise<OutboxRow[]> {
  await until(
    async () => (await outbox(connection)).every((row) => row.status !== 'pending'),
    timeoutMs,
    'the outbox to settle',
    50,
  );
  return outbox(connection);
}

/** Moves every live link of a user past its expiry (as if its TTL had passed). */
export async function expireLinks(connection: DatabaseConnection, userId: string): Promise<void> {
  await connection.db.execute(
    sql`update link_tokens set expires_at = now() - interval '1 second' where user_id = ${userId}`,
  );
}

/** The user's email_verified_at, straight from the database. */
export async function emailVerifiedAt(connection: DatabaseConnection, userId: string): Promise<Date | null> {
  const result: unknown = await connection.db.execute(
    sql`select email_verified_at from users where id = ${userId}`,
  );
  return (result as { rows: { email_verified_at: Date | null }[] }).rows[0]?.email_verified_at ?? null;
}
