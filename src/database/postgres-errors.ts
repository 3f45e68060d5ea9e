import type { DatabaseUnavailable } from '../common/errors/error-body.js';

/** The PostgreSQL error code of a failed query, looking through Drizzle's wrapper. */
export function postgresErrorCode(error: unknown): string | undefined {
  for (let current = error; current instanceof Error; current = current.cause) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}

export const UNIQUE_VIOLATION = '23505';

/**
 * Why the database cannot serve a request now: the `class` label of
 * `gatehouse_database_unavailable_total`.
 * - `connection`: no connection, or one that broke or stalled (socket errors, SQLSTATE class 08);
 * - `acquire_timeout`: no pooled connection came free within DATABASE_ACQUIRE_TIMEOUT;
 * - `shutdown`: the server is stopping, restarting or ended the session (class 57 but 57014);
 * - `statement_timeout`: a statement ran past DATABASE_STATEMENT_TIMEOUT, or was cancelled (57014);
 * - `lock_timeout`: a lock was not granted within DATABASE_LOCK_TIMEOUT (55P03);
 * - `resources`: too many connections, out of memory or disk (class 53);
 * - `not_accepting`: the database refuses connections, e.g. ALLOW_CONNECTIONS false (55000 at connect);
 * - `read_only`: the server is read-only, e.g. a replica after a failover (25006);
 * - `conflict`: a serialization failure or a deadlock (40001, 40P01), on every run of the transaction.
 */
export const DATABASE_UNAVAILABLE_CLASSES = [
  'connection',
  'acquire_timeout',
  'shutdown',
  'statement_timeout',
  'lock_timeout',
  'resources',
  'not_accepting',
  'read_only',
  'conflict',
] as const;

export type DatabaseUnavailableClass = (typeof DATABASE_UNAVAILABLE_CLASSES)[number];

export interface DatabaseTrouble extends DatabaseUnavailable {
  readonly class: DatabaseUnavailableClass;
}

/** Node's socket errors when connecting or on a live connection (ENOENT: the embedded server's socket is gone). */
const CONNECTION_ERRNOS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** The driver's and the pool's own errors, which carry no code (their wording is theirs, not the server's). */
const DRIVER_MESSAGES: [RegExp, DatabaseUnavailableClass][] = [
  [/timeout exceeded when trying to connect/i, 'acquire_timeout'],
  [/Connection terminated|is not queryable|Query read timeout/i, 'connection'],
  [/Cannot use a pool after calling end/i, 'connection'],
];

/** Errors raised while a connection was being made, as the pool marks them (see markConnectFailure). */
const connectFailures = new WeakSet<object>();

/**
 * Marks an error as raised while connecting: 55000 means "the database is
 * not accepting connections" only then (later, it is a bug of the query).
 */
export function markConnectFailure<T>(error: T): T {
  if (typeof error === 'object' && error !== null) connectFailures.add(error);
  return error;
}

function classOfSqlstate(code: string, atConnect: boolean): DatabaseUnavailableClass | undefined {
  if (code.startsWith('08')) return 'connection';
  if (code === '57014') return 'statement_timeout';
  if (code.startsWith('57')) return 'shutdown'; // 57P01 admin shutdown, 57P02 crash, 57P03 cannot connect now, …
  if (code.startsWith('53')) return 'resources'; // 53300 too many connections, 53100 disk full, 53200 out of memory
  if (code === '55P03') return 'lock_timeout';
  if (code === '55000' && atConnect) return 'not_accepting';
  if (code === '25006') return 'read_only';
  if (code === '40001' || code === '40P01') return 'conflict';
  return undefined;
}

/**
 * The one classification of database errors: whether `error` means "the
 * database cannot serve this now" (answered 503 `unavailable` with
 * Retry-After), and why. Looks through Drizzle's wrapper (`cause`) and a
 * connection tried on several addresses (AggregateError). Anything else —
 * a constraint, a syntax error, a bug — is no such trouble (500).
 *
 * Serialization failures and deadlocks (40001, 40P01) reach here only once
 * the transaction has been run TRANSACTION_ATTEMPTS times (see
 * retryingTransactions); then the client retries (Retry-After).
 */
export function classifyDatabaseError(error: unknown): DatabaseTrouble | undefined {
  const seen = new Set<unknown>();
  const visit = (current: unknown): DatabaseTrouble | undefined => {
    if (!(current instanceof Error) || seen.has(current)) return undefined;
    seen.add(current);
    const { code, syscall } = current as { code?: unknown; syscall?: unknown };
    if (typeof code === 'string') {
      if (CONNECTION_ERRNOS.has(code) || (code === 'ENOENT' && syscall === 'connect')) {
        return { class: 'connection' };
      }
      if (/^[0-9A-Z]{5}$/.test(code)) {
        const found = classOfSqlstate(code, connectFailures.has(current));
        if (found) return { class: found, sqlstate: code };
      }
    }
    for (const [pattern, found] of DRIVER_MESSAGES) {
      if (pattern.test(current.message)) return { class: found };
    }
    if (current instanceof AggregateError) {
      for (const inner of current.errors) {
        const found = visit(inner);
        if (found) return found;
      }
    }
    return visit(current.cause);
  };
  return visit(error);
}

/**
 * Whether a connection on which the server sent this SQLSTATE must leave the
 * pool instead of serving again: the server is read-only (a replica after a
 * failover: a fresh connection may reach the new primary), or is ending the
 * session or going away. A statement or lock timeout, a conflict or a lack of
 * memory leaves a healthy connection: it stays.
 */
export function discardsConnection(code: string | undefined): boolean {
  if (code === undefined) return false;
  return code === '25006' || code.startsWith('08') || /^57P0[1-5]$/.test(code);
}
