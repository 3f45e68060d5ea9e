import { z } from 'zod';
import { pageQueryShape } from '../common/pagination/keyset.js';
import { safeText } from '../common/validation/safe-text.js';

export const AuditQuerySchema = z.strictObject({
  ...pageQueryShape,
  userId: z.uuid({ message: 'must be a UUID' }).optional(),
  type: safeText(64).optional(),
});

export const AuditEventSchema = z.object({
  id: z.uuid(),
  type: z.string(),
  userId: z.uuid().nullable(),
  actorId: z.uuid().nullable(),
  ip: z.string().nullable(),
  userAgent: z.string().nullable(),
  createdAt: z.iso.datetime(),
  detail: z.record(z.string(), z.unknown()),
});
export type AuditEventView = z.infer<typeof AuditEventSchema>;
