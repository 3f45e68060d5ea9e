import { z } from 'zod';
import { pageQueryShape } from '../common/pagination/keyset.js';

export const SessionIdSchema = z.uuid({ message: 'must be a UUID' });

export const SessionViewSchema = z.object({
  id: z.uuid(),
  createdAt: z.iso.datetime(),
  lastUsedAt: z.iso.datetime(),
  expiresAt: z.iso
    .datetime()
    .describe('When the session ends at the latest: the idle timeout or its absolute age'),
  userAgent: z.string().nullable(),
  ip: z.string().nullable(),
  current: z.boolean(),
});
export type SessionView = z.infer<typeof SessionViewSchema>;

/** `?limit=` (1–100, default 50) and the opaque keyset `?cursor=`, as on /users. */
export const SessionsQuerySchema = z.strictObject({ ...pageQueryShape });
