import { describe, expect, it } from 'vitest';
import { useTestApp } from '../support/test-app.js';
import { decodeJwt } from '../support/tokens.js';

const PATHS = ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration'];

describe('issuer metadata (RFC 8414, and at the OpenID Connect discovery path)', () => {
  describe('by default', () => {
    const { t, http } = useTestApp({ JWKS_MAX_AGE: '7m' });

    it('issues tokens whose iss is PUBLIC_URL, and publishes that issuer and its JWKS URL, public and cacheable', async () => {
      const user = await http.signup();
      expect(decodeJwt(user.accessToken).payload.iss).toBe('http://localhost:3000');
      for (const path of PATHS) {
        const reply = await http.get(path);
        expect(reply.status, path).toBe(200);
        expect(reply.body).toEqual({
          issuer: 'http://localhost:3000',
          jwks_uri: 'http://localhost:3000/.well-known/jwks.json',
          token_endpoint: 'http://localhost:3000/oauth/token',
          grant_types_supported: ['client_credentials'],
          token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
          introspection_endpoint: 'http://localhost:3000/oauth/introspect',
          introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
          revocation_feed_endpoint: 'http://localhost:3000/oauth/revocations',
          scopes_supported: ['introspect', 'revocations:read'],
          response_types_supported: [],
          service_documentation: 'http://localhost:3000/docs',
        });
        expect(reply.headers['cache-control']).toBe(`public, max-age=${7 * 60}`);
      }
      expect(t.config.jwt.issuer).toBe('http://localhost:3000');
    });

    it('claims nothing it does not do: no ID token, no authorization endpoint, no other grant', async () => {
      const body = (await http.get(PATHS[1]!)).body as Record<string, unknown>;
      for (const member of Object.keys(body)) expect(member).not.toMatch(/^id_token|authorization_endpoint/);
      expect(body.grant_types_supported).toEqual(['client_credentials']);
    });
  });

  describe('behind a path prefix', () => {
    const { http } = useTestApp({ PUBLIC_URL: 'https://example.test/auth/' });

    it('keeps the prefix in the issuer and the JWKS URL', async () => {
      const user = await http.signup();
      expect(decodeJwt(user.accessToken).payload.iss).toBe('https://example.test/auth');
      const body = (await http.get(PATHS[0]!)).body;
      expect(body).toMatchObject({
        issuer: 'https://example.test/auth',
        jwks_uri: 'https://example.test/auth/.well-known/jwks.json',
      });
    });
  });

  describe('with JWT_ISSUER set', () => {
    const { http } = useTestApp({
      JWT_ISSUER: 'https://issuer.example.test',
      PUBLIC_URL: 'https://api.example.test',
    });

    it('publishes the issuer tokens carry, and the keys where the service is', async () => {
      const user = await http.signup();
      expect(decodeJwt(user.accessToken).payload.iss).toBe('https://issuer.example.test');
      expect((await http.get(PATHS[0]!)).body).toMatchObject({
        issuer: 'https://issuer.example.test',
        jwks_uri: 'https://api.example.test/.well-known/jwks.json',
      });
    });
  });
});
