/** The JWS algorithms Gatehouse can sign access tokens with (`JWT_ALG`). */
export const JWT_ALGS = ['ES256', 'EdDSA', 'RS256'] as const;
export type JwtAlg = (typeof JWT_ALGS)[number];
