import { z } from 'zod';
import { MAX_TOKEN_LENGTH } from '../keys/access-token.js';

/**
 * One form parameter: a string (a repeated parameter arrives as an array and is refused, RFC 6749
 * §3.1). Unknown parameters are ignored, as RFC 6749 §3.2 asks of a token endpoint.
 */
const param = (max: number) => z.string().max(max, `must be at most ${max} characters`);

const clientSecretPost = {
  client_id: param(200).optional().describe('client_secret_post: the client id (instead of HTTP Basic)'),
  client_secret: param(200).optional().describe('client_secret_post: the client secret'),
};

export const TokenRequestSchema = z
  .looseObject({
    grant_type: param(100).describe('`client_credentials`, the only grant'),
    scope: param(4000)
      .optional()
      .describe("Space-separated scopes, each given to the client; absent: all of the client's scopes"),
    ...clientSecretPost,
  })
  .meta({ example: { grant_type: 'client_credentials', scope: 'orders:read' } });
export type TokenRequest = z.infer<typeof TokenRequestSchema>;

export const TokenResponseSchema = z
  .object({
    access_token: z
      .string()
      .describe('A JWT (`typ: at+jwt`): `sub` and `client_id` the client, `scope`; no `sid`'),
    token_type: z.literal('Bearer'),
    expires_in: z.number().int().describe('Seconds (ACCESS_TOKEN_TTL)'),
    scope: z.string().describe('The scopes granted, space-separated'),
  })
  .meta({
    example: {
      access_token: 'eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCJ9…',
      token_type: 'Bearer',
      expires_in: 900,
      scope: 'orders:read',
    },
  });
export type TokenResponse = z.infer<typeof TokenResponseSchema>;

export const IntrospectionRequestSchema = z
  .looseObject({
    token: param(MAX_TOKEN_LENGTH * 2).describe('The token to look at'),
    token_type_hint: param(100).optional().describe('Accepted and ignored: only access tokens can be active'),
    ...clientSecretPost,
  })
  .meta({ example: { token: 'eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCJ9…' } });
export type IntrospectionRequest = z.infer<typeof IntrospectionRequestSchema>;

export const IntrospectionResponseSchema = z
  .object({
    active: z
      .boolean()
      .describe('False for anything that is not a currently valid access token; then nothing else'),
    token_type: z.literal('Bearer').optional(),
    sub: z.string().optional().describe("The user's id, or the client's"),
    sid: z.string().optional().describe("A user's token: its session"),
    roles: z.array(z.string()).optional().describe("A user's token: the user's roles now"),
    amr: z.array(z.string()).optional().describe("A user's token: how the session signed in"),
    client_id: z.string().optional().describe("A client's token: the client"),
    scope: z.string().optional().describe("A client's token: its scopes, space-separated"),
    iss: z.string().optional(),
    aud: z.string().optional(),
    iat: z.number().int().optional(),
    exp: z.number().int().optional(),
    jti: z.string().optional(),
  })
  .meta({
    example: {
      active: true,
      token_type: 'Bearer',
      sub: '0192d4f0-7c1e-7a3b-9f00-5b6c7d8e9f10',
      sid: '0192d4f1-2a3b-7c4d-8e5f-60718293a4b5',
      roles: ['user'],
      amr: ['pwd'],
      iss: 'https://auth.example.com',
      aud: 'gatehouse',
      iat: 1767225600,
      exp: 1767226500,
      jti: '6f1c2d3e-4a5b-4c6d-8e7f-8091a2b3c4d5',
    },
  });
export type IntrospectionResponse = z.infer<typeof IntrospectionResponseSchema>;

export const RevocationsQuerySchema = z.strictObject({
  since: z.iso
    .datetime({
      offset: true,
      message: 'must be an ISO-8601 time with a zone, e.g. 2026-01-06T14:30:00.000Z',
    })
    .optional()
    .describe('Only events recorded at or after this time'),
});
export type RevocationsQuery = z.infer<typeof RevocationsQuerySchema>;

export const RevocationEventSchema = z.object({
  sid: z.string().nullable().describe('The session whose tokens are concerned; null for a deleted client'),
  sub: z.string().describe('The user of the session, or the deleted client'),
  revokedAt: z.iso.datetime().describe('When it was recorded (also the SSE event id)'),
  until: z.iso.datetime().describe('After this, every token it concerns has expired: forget it'),
  reason: z.string().describe('signout, user_disabled, roles_changed, client_deleted, …'),
  roles: z
    .array(z.string())
    .optional()
    .describe('With `roles_changed`: the roles now; refuse tokens of this `sid` whose roles differ'),
});
export type RevocationEventView = z.infer<typeof RevocationEventSchema>;

export const RevocationListSchema = z.array(RevocationEventSchema).meta({
  example: [
    {
      sid: '0192d4f1-2a3b-7c4d-8e5f-60718293a4b5',
      sub: '0192d4f0-7c1e-7a3b-9f00-5b6c7d8e9f10',
      revokedAt: '2026-01-06T14:30:00.123Z',
      until: '2026-01-06T14:46:00.123Z',
      reason: 'signout',
    },
  ],
});
