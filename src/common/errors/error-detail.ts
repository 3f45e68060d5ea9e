import { DrizzleQueryError } from 'drizzle-orm';

/**
 * An error's detail for the log, without the values a failed query carried:
 * Drizzle's query error puts every bound parameter (emails, password hashes,
 * token hashes) into its message, and no log line may hold those. Driver
 * errors are logged by name, message and code, without their `detail`
 * (PostgreSQL quotes row values there).
 */
export function errorDetail(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (error instanceof DrizzleQueryError) return `Failed query: ${error.query}${causeOf(error)}`;
  const code = (error as { code?: unknown }).code;
  const head = `${error.name}: ${error.message}${typeof code === 'string' ? ` [${code}]` : ''}`;
  const frames = (error.stack ?? '').split('\n').filter((line) => /^\s+at /.test(line));
  return [head, ...frames].join('\n') + causeOf(error);
}

function causeOf(error: Error): string {
  return error.cause === undefined || error.cause === error ? '' : `\ncaused by: ${errorDetail(error.cause)}`;
}
