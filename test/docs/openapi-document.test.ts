import { describe, expect, it } from 'vitest';
import { createOpenApiDocument } from '../../src/openapi-document.js';
import { useTestApp } from '../support/test-app.js';

/**
 * `npm run lint:openapi` lints the document built without a database (Nest's
 * preview mode); these tests hold it to be the document the service serves.
 */
describe('the OpenAPI document', () => {
  const { t, http } = useTestApp({ PUBLIC_URL: 'https://auth.example.test/gate' });

  it('built without a database is exactly the one served at /docs/openapi.json', async () => {
    const served = await http.get('/docs/openapi.json');
    expect(served.status).toBe(200);
    expect(await createOpenApiDocument(t.config)).toEqual(served.body);
  });

  it('names PUBLIC_URL as its server, and has a license, tags and the security schemes', async () => {
    const doc = (await http.get('/docs/openapi.json')).body;
    expect(doc.servers).toEqual([{ url: 'https://auth.example.test/gate', description: expect.any(String) }]);
    expect(doc.info.license).toEqual({ name: 'MIT', url: expect.stringMatching(/^https:\/\//) });
    expect(doc.security).toEqual([{ bearer: [] }]);
    expect(Object.keys(doc.components.securitySchemes).sort()).toEqual([
      'bearer',
      'clientBasic',
      'metricsToken',
      'refreshToken',
    ]);
    const used = new Set(
      Object.values<Record<string, any>>(doc.paths).flatMap((item) =>
        Object.values<any>(item).flatMap((operation) => operation.tags as string[]),
      ),
    );
    expect(doc.tags.map((tag: { name: string }) => tag.name).sort()).toEqual([...used].sort());
    for (const tag of doc.tags) expect(tag.description, tag.name).toEqual(expect.any(String));
  });

  it('takes /auth/refresh without a body (the header form), and every other body as required', async () => {
    const doc = (await http.get('/docs/openapi.json')).body;
    expect(doc.paths['/auth/refresh'].post.requestBody.required).toBe(false);
    expect(doc.paths['/auth/refresh'].post.security).toEqual([{}, { refreshToken: [] }]);
    for (const [path, method] of [
      ['/auth/signup', 'post'],
      ['/auth/signin', 'post'],
      ['/auth/password', 'post'],
      ['/users/{id}', 'patch'],
    ] as const) {
      expect(doc.paths[path][method].requestBody.required, `${method} ${path}`).toBe(true);
    }
  });
});
