import type { PipeTransform } from '@nestjs/common';
import type { z } from 'zod';
import { ApiError } from '../errors/api-error.js';
import type { FieldError } from '../errors/error-codes.js';

/** Validates (and parses) a request part with a zod schema; failures become 400 validation_failed. */
export class ZodValidationPipe<Schema extends z.ZodType> implements PipeTransform<unknown, z.output<Schema>> {
  constructor(
    private readonly schema: Schema,
    private readonly part: 'body' | 'query' | 'params' = 'body',
  ) {}

  transform(value: unknown): z.output<Schema> {
    const result = this.schema.safeParse(value ?? (this.part === 'body' ? undefined : {}));
    if (result.success) return result.data;
    throw ApiError.validation(toFieldErrors(result.error, this.part));
  }
}

export function toFieldErrors(error: z.ZodError, part: string): FieldError[] {
  return error.issues.flatMap((issue): FieldError[] => {
    const path = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ field: path ? `${path}.${key}` : key, message: 'is not allowed' }));
    }
    return [{ field: path || part, message: issue.message }];
  });
}
