import { z } from 'zod';

/** A kid as Gatehouse makes them (an RFC 7638 thumbprint, base64url); anything else cannot be one. */
export const KidSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,128}$/, 'must be a key id (letters, digits, - and _)')
  .describe('The key id: the `kid` of the JWKS and of the tokens it signed');

/** POST /keys/rotate takes no parameter: an empty body (or none) only. */
export const RotateKeySchema = z.strictObject({}).optional().meta({ example: {} });

export const RevokeKeySchema = z
  .strictObject({
    endSessions: z
      .boolean({ message: 'must be true or false' })
      .optional()
      .describe(
        'Also sign out every session that may hold a token the key signed (opened before the key ' +
          'stopped signing and used after it started)',
      ),
  })
  .optional()
  .meta({ example: { endSessions: true } });
export type RevokeKeyBody = z.infer<typeof RevokeKeySchema>;

export const KeyRotationSchema = z
  .object({
    kid: z.string(),
    alg: z.string(),
    activatesAt: z.iso
      .datetime()
      .describe('When it starts signing: JWKS_MAX_AGE and one reload interval from now'),
  })
  .meta({
    example: {
      kid: 'Yk3h9S0mZ0p2b8JtQ0w1n3yH4rT6uV8xA9cD2eF5gH0',
      alg: 'ES256',
      activatesAt: '2026-01-06T14:35:30.000Z',
    },
  });
export type KeyRotationView = z.infer<typeof KeyRotationSchema>;

export const KeyRevocationSchema = z
  .object({
    kid: z.string(),
    alg: z.string(),
    alreadyRevoked: z.boolean().describe('It was revoked before: nothing changed'),
    replacedBy: z
      .string()
      .nullable()
      .describe('The fresh key that signs from now on, when the revoked key was the one signing'),
    sessionsEnded: z.number().int().describe('Sessions signed out (with `endSessions`)'),
  })
  .meta({
    example: {
      kid: 'Yk3h9S0mZ0p2b8JtQ0w1n3yH4rT6uV8xA9cD2eF5gH0',
      alg: 'ES256',
      alreadyRevoked: false,
      replacedBy: 'q8W2e4R6t8Y0u2I4o6P8a0S2d4F6g8H0j2K4l6Z8x0C',
      sessionsEnded: 3,
    },
  });
export type KeyRevocationView = z.infer<typeof KeyRevocationSchema>;
