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

/** The longest a log field may be: a request's path, address, user agent, … (characters). */
export const LOG_FIELD_MAX = 512;
/** The longest a message or an error's detail may be (characters): stack traces need room. */
export const LOG_DETAIL_MAX = 8192;
/** Fields that hold an error's detail (with its stack) rather than one value. */
const DETAIL_FIELDS = new Set(['err', 'error', 'reason', 'stack']);
/** How deep into nested objects fields are bounded; deeper objects are logged as they are. */
const MAX_DEPTH = 4;

/**
 * `text`, cut to `max` characters and marked when it is longer: many fields
 * come from the client (the path of a route with no limit, the address from
 * a trusted proxy's X-Forwarded-For, a header), and a 15 KB path must not
 * make a 15 KB log line.
 */
export function boundedText(text: string, max = LOG_FIELD_MAX): string {
  if (text.length <= max) return text;
  // Never split a surrogate pair.
  const end = /[\ud800-\udbff]/.test(text.charAt(max - 1)) ? max - 1 : max;
  return `${text.slice(0, end)}…[truncated: ${text.length} characters]`;
}

function boundedFields(object: Record<string, unknown>, depth: number): Record<string, unknown> {
  let copy: Record<string, unknown> | undefined;
  for (const key of Object.keys(object)) {
    const value = object[key];
    let bounded = value;
    if (typeof value === 'string') {
      bounded = boundedText(value, DETAIL_FIELDS.has(key) ? LOG_DETAIL_MAX : LOG_FIELD_MAX);
    } else if (depth < MAX_DEPTH && isPlainObject(value)) {
      bounded = boundedFields(value, depth + 1);
    }
    if (bounded !== value) {
      copy ??= { ...object };
      copy[key] = bounded;
    }
  }
  return copy ?? object;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype = Object.getPrototypeOf(value) as unknown;
  return prototype === Object.prototype || prototype === null;
}

export function createLogger(config: Pick<AppConfig, 'logLevel'>, destination?: DestinationStream): Logger {
  const options = {
    level: config.logLevel,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    // Every string field of every line is bounded (the objects of the log calls, nested
    // ones included), and so is the message: no line grows with what a client sends.
    formatters: { log: (object: Record<string, unknown>) => boundedFields(object, 0) },
    hooks: {
      logMethod(this: Logger, args: unknown[], method: (...args: unknown[]) => void): void {
        method.apply(
          this,
          args.map((arg) => (typeof arg === 'string' ? boundedText(arg, LOG_DETAIL_MAX) : arg)),
        );
      },
    },
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
