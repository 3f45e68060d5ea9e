import { z } from 'zod';
import { pageQueryShape } from '../common/pagination/keyset.js';
import { safeText } from '../common/validation/safe-text.js';

/** The scopes that mean something to Gatehouse itself: the /oauth routes a client may call. */
export const GATEHOUSE_SCOPES = {
  introspect: 'POST /oauth/introspect',
  'revocations:read': 'GET /oauth/revocations',
} as const;
export type GatehouseScope = keyof typeof GATEHOUSE_SCOPES;

/**
 * A scope name: Gatehouse's own, or a resource scope it only passes on in tokens. RFC 6749's
 * scope-token allows more characters; these are the ones a name needs, and none that quoting,
 * logging or a space-separated list could trip on.
 */
export const SCOPE_PATTERN = /^[A-Za-z0-9_.:/-]{1,64}$/;
export const MAX_SCOPES = 50;

export const ScopeSchema = z
  .string()
  .regex(SCOPE_PATTERN, 'must be 1–64 characters of letters, digits and _ . : / -');

export const CreateClientSchema = z
  .strictObject({
    name: safeText(100)
      .trim()
      .min(1, 'must not be empty')
      .describe('What the client is, for people (e.g. the service it belongs to)'),
    scopes: z
      .array(ScopeSchema)
      .min(1, 'must list at least one scope')
      .max(MAX_SCOPES, `must list at most ${MAX_SCOPES} scopes`)
      .refine((scopes) => new Set(scopes).size === scopes.length, 'must not repeat a scope')
      .describe(
        'What it may ask for: `introspect` (POST /oauth/introspect), `revocations:read` (GET ' +
          '/oauth/revocations), and resource scopes that Gatehouse only puts in its tokens',
      ),
  })
  .meta({ example: { name: 'orders-service', scopes: ['revocations:read', 'introspect', 'orders:read'] } });
export type CreateClientBody = z.infer<typeof CreateClientSchema>;

export const ClientIdSchema = z.uuid({ message: 'must be a UUID' });

export const ClientsQuerySchema = z.strictObject({ ...pageQueryShape });

export const ClientSchema = z
  .object({
    clientId: z.string().describe('Its id: the user name of its client authentication'),
    name: z.string(),
    scopes: z.array(z.string()),
    createdAt: z.iso.datetime(),
  })
  .meta({
    example: {
      clientId: '0192d4f0-7c1e-7a3b-9f00-5b6c7d8e9f10',
      name: 'orders-service',
      scopes: ['revocations:read', 'introspect', 'orders:read'],
      createdAt: '2026-01-06T14:30:00.000Z',
    },
  });
export type ClientView = z.infer<typeof ClientSchema>;

export const CreatedClientSchema = ClientSchema.extend({
  clientSecret: z.string().describe('`gh_cs_` and 256 random bits. Shown this once: only its hash is kept'),
}).meta({
  example: {
    clientId: '0192d4f0-7c1e-7a3b-9f00-5b6c7d8e9f10',
    clientSecret: 'gh_cs_q8W2e4R6t8Y0u2I4o6P8a0S2d4F6g8H0j2K4l6Z8x0C',
    name: 'orders-service',
    scopes: ['revocations:read', 'introspect', 'orders:read'],
    createdAt: '2026-01-06T14:30:00.000Z',
  },
});
export type CreatedClientView = z.infer<typeof CreatedClientSchema>;
