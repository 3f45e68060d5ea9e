import { z } from 'zod';

/**
 * A string that may reach a SQL parameter: PostgreSQL text cannot hold NUL,
 * so a NUL would fail the query (a 500) instead of the request (a 400).
 */
export const safeText = (max: number) =>
  z
    .string()
    .max(max, `must be at most ${max} characters`)
    .refine((text) => !text.includes('\u0000'), 'must not contain NUL characters');
