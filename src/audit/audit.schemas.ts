import { z } from 'zod';
import { pageQueryShape } from '../common/pagination/keyset.js';
import { safeText } from '../common/validation/safe-text.js';

export const AuditQuerySchema = z.strictObject({
  ...pageQueryShape,
  userId: z.uuid({ message: 'must be a UUID' }).optional(),
  type: safeText(64).optional(),
});

export const AuditEventSchema = z
  .object({
    id: z.uuid(),
    type: z.string(),
    userId: z.uuid().nullable(),
    actorId: z.uuid().nullable(),
    ip: z.string().nullable(),
    userAgent: z.string().nullable(),
    createdAt: z.iso.datetime(),
    detail: z.record(z.string(), z.unknown()),
  })
  .meta({
    example: {
      id: '0192f5e6-1b22-7c3d-9e4f-6a7b8c9d0e1f',
      type: 'signin_failed',
      userId: '0192f5e4-7c1a-7d3e-9b2a-4f6c8d0e1a2b',
      actorId: null,
      ip: '203.0.113.7',
      userAgent: 'curl/8.5.0',
      createdAt: '2026-01-06T14:05:00.000Z',
      detail: { email: 'ada@example.com', reason: 'wrong_password' },
    },
  });
export type AuditEventView = z.infer<typeof AuditEventSchema>;
