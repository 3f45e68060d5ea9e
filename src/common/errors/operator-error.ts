import { errorSummary } from './error-detail.js';

/**
 * A failure that the operator must fix — a directory, a secret, a setting, a
 * database that will not start — whose message says what is wrong and what to
 * do. The service's start and the command line print it as one plain line,
 * without a stack: it is no bug of the code.
 */
export class OperatorError extends Error {
  override name = 'OperatorError';
}

/**
 * Whether a start-up failure is the operator's to fix: an OperatorError, or
 * an error of the system (a file, a directory, a port: Node's errors with a
 * `syscall`), which says plainly what failed on what.
 */
export function isOperatorFacing(error: unknown): boolean {
  return (
    error instanceof OperatorError ||
    (error instanceof Error && typeof (error as NodeJS.ErrnoException).syscall === 'string')
  );
}

/**
 * `error` as an OperatorError: itself, or one whose message is `what`
 * followed by the error's one-line summary (for the database: whatever
 * stops it from opening — an unreachable server, a refused login, a failed
 * migration — is the operator's to fix, and its stack says nothing to them).
 */
export function asOperatorError(error: unknown, what: string): OperatorError {
  if (error instanceof OperatorError) return error;
  return new OperatorError(`${what}: ${errorSummary(error)}`, { cause: error });
}
