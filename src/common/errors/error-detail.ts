import { DrizzleQueryError } from 'drizzle-orm';

/**
 * An error's detail for the log, without the values a failed query carried:
 * Drizzle's query error puts every bound parameter (emails, password hashes,
 * token hashes) into its message, and no log line may hold those. Driver
 * errors are logged by name, message and code, without their `detail`
 * (PostgreSQL quotes row values there).
 */
export function errorDetail(error: unknown): string {
  if (!(error instanceof Error)) return describeNonError(error);
  if (error instanceof DrizzleQueryError) return `Failed query: ${error.query}${causeOf(error)}`;
  const code = (error as { code?: unknown }).code;
  const head = `${error.name}: ${error.message}${typeof code === 'string' ? ` [${code}]` : ''}`;
  const frames = (error.stack ?? '').split('\n').filter((line) => /^\s+at /.test(line));
  return [head, ...frames].join('\n') + causeOf(error);
}

function causeOf(error: Error): string {
  return error.cause === undefined || error.cause === error ? '' : `\ncaused by: ${errorDetail(error.cause)}`;
}

/**
 * One line for a person, with no stack and none of a failed query's values:
 * the message (and code) of an error, the cause of a failed query.
 */
export function errorSummary(error: unknown): string {
  if (!(error instanceof Error)) return describeNonError(error);
  if (error instanceof DrizzleQueryError) {
    return `a database query failed${error.cause === undefined ? '' : `: ${errorSummary(error.cause)}`}`;
  }
  if (error instanceof AggregateError && error.message === '' && error.errors.length > 0) {
    return errorSummary(error.errors[0]); // a connection tried on several addresses: the first says it
  }
  const code = (error as { code?: unknown }).code;
  const message = error.message.trim().replace(/\s*\n\s*/g, ' ') || error.name;
  return `${message}${typeof code === 'string' && !message.includes(code) ? ` [${code}]` : ''}`;
}

/**
 * Something thrown that is no Error (a library may reject with a plain
 * object): its message and code when it has them, else what it is — never
 * "[object Object]", and never its other fields (they may hold values).
 */
function describeNonError(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null) {
    const { message, code } = value as { message?: unknown; code?: unknown };
    const codeText = typeof code === 'string' || typeof code === 'number' ? ` [${code}]` : '';
    if (typeof message === 'string' && message !== '') return message + codeText;
    const kind = value.constructor?.name ?? 'object';
    return `a ${kind === 'Object' ? 'plain object' : kind} was thrown, with no message${codeText}`;
  }
  return `${String(value)} was thrown`;
}
