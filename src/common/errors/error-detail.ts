/**
 * An error's detail for the log, without the values a failed query carried:
 * Drizzle puts every bound parameter (emails, password hashes, token hashes)
 * into its error message, and no log line may hold those.
 */
export function errorDetail(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const query = (error as { query?: unknown }).query;
  if (typeof query === 'string' && 'params' in error) {
    const cause = error.cause === undefined ? '' : `\ncaused by: ${errorDetail(error.cause)}`;
    return `Failed query: ${query}${cause}`;
  }
  const stack = error.stack ?? `${error.name}: ${error.message}`;
  return error.cause === undefined ? stack : `${stack}\ncaused by: ${errorDetail(error.cause)}`;
}
