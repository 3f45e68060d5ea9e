/**
 * A failure that the operator must fix — a directory, a secret, a setting, a
 * database that will not start — whose message says what is wrong and what to
 * do. The service's start and the command line print it as one plain line,
 * without a stack: it is no bug of the code.
 */
export class OperatorError extends Error {
  override name = 'OperatorError';
}
