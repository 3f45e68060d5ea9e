import { z } from 'zod';
import { pageQueryShape } from '../common/pagination/keyset.js';

export const SessionIdSchema = z.uuid({ message: 'must be a UUID' });

export const SessionViewSchema = z
  .object({
    id: z.uuid(),
    createdAt: z.iso.datetime(),
    lastUsedAt: z.iso.datetime(),
    expiresAt: z.iso
      .datetime()
      .describe('When the session ends at the latest: the idle timeout or its absolute age'),
    userAgent: z.string().nullable(),
    ip: z.string().nullable(),
    current: z.boolean(),
  })
  .meta({
    example: {
      id: '0192f5e5-0a11-7b2c-8d3e-5f6a7b8c9d0e',
      createdAt: '2026-01-05T09:30:00.000Z',
      lastUsedAt: '2026-01-06T14:02:11.000Z',
      expiresAt: '2026-01-13T14:02:11.000Z',
      userAgent: 'Mozilla/5.0 (X11; Linux x86_64)',
      ip: '203.0.113.7',
      current: true,
    },
  });
export type SessionView = z.infer<typeof SessionViewSchema>;

/** `?limit=` (1–100, default 50) and the opaque keyset `?cursor=`, as on /users. */
export const SessionsQuerySchema = z.strictObject({ ...pageQueryShape });
