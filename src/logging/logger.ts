import type { LoggerService } from '@nestjs/common';
import { type DestinationStream, pino, type Logger } from 'pino';
import type { AppConfig } from '../config/app-config.js';

/**
 * Paths pino blanks out wherever they appear in a log object. Request logging
 * writes no headers or bodies at all; this is the second line of defence.
 */
const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  '*.password',
  '*.currentPassword',
  '*.newPassword',
  '*.passwordHash',
  '*.accessToken',
  '*.refreshToken',
  '*.token',
];

export function createLogger(config: Pick<AppConfig, 'logLevel'>, destination?: DestinationStream): Logger {
  const options = {
    level: config.logLevel,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { service: 'gatehouse' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  // Standard output, written asynchronously: lines written while a write is in
  // flight go out together in the next one instead of one blocking write per
  // request (a quarter of the CPU of a cached GET /users/me went to them). pino
  // flushes what is pending when the process exits; only a kill -9 can lose the
  // last lines.
  return pino(options, destination ?? pino.destination({ dest: 1, sync: false }));
}

/** Nest's start-up chatter (one line per module and route): debug, not info. */
const BOOT_CONTEXTS = new Set([
  'NestFactory',
  'InstanceLoader',
  'RoutesResolver',
  'RouterExplorer',
  'NestApplication',
]);

/**
 * Nest's logger for failures while the application is built: with
 * `abortOnError: false` (always, here), the error is thrown on to whoever
 * started it (main, the CLI, a test), which reports it once; logged here too,
 * it would be said twice.
 */
const RETHROWN_CONTEXTS = new Set(['ExceptionHandler']);

/** Routes Nest's own log calls (start-up, errors) into the same pino JSON stream. */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  log(message: unknown, context?: string): void {
    if (context && BOOT_CONTEXTS.has(context)) this.logger.debug({ context }, text(message));
    else this.logger.info({ context }, text(message));
  }
  error(message: unknown, ...rest: unknown[]): void {
    const context = rest.at(-1);
    if (typeof context === 'string' && RETHROWN_CONTEXTS.has(context))
      this.logger.debug({ context }, text(message));
    else this.logger.error({ context }, text(message));
  }
  warn(message: unknown, context?: string): void {
    this.logger.warn({ context }, text(message));
  }
  debug(message: unknown, context?: string): void {
    this.logger.debug({ context }, text(message));
  }
  verbose(message: unknown, context?: string): void {
    this.logger.trace({ context }, text(message));
  }
}

/** A log message as text: an error by name and message, an object as JSON — never "[object Object]". */
function text(message: unknown): string {
  if (typeof message === 'string') return message;
  if (message instanceof Error) return `${message.name}: ${message.message}`;
  if (typeof message === 'object' && message !== null) {
    try {
      return JSON.stringify(message);
    } catch {
      return `a ${message.constructor?.name ?? 'object'} that cannot be shown`;
    }
  }
  return String(message);
}
