import { HttpException } from '@nestjs/common';
import { ERROR_STATUS, type ErrorCode, type FieldError } from './error-codes.js';

/**
 * An error the client is meant to see: status, stable code and a message.
 * Thrown anywhere; the global filter turns it into the contract's shape.
 */
export class ApiError extends HttpException {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly fieldErrors?: FieldError[],
    /** Extra response headers, e.g. Retry-After. */
    readonly headers?: Record<string, string>,
  ) {
    super(message, ERROR_STATUS[code]);
  }

  static validation(errors: FieldError[], message = 'Request validation failed'): ApiError {
    return new ApiError('validation_failed', message, errors);
  }
}
