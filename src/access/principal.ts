/** Who is calling: set on the request by the access-token guard. */
export interface Principal {
  userId: string;
  sessionId: string;
  /** The user's roles now (from current state, not only the token's claims). */
  roles: string[];
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}
