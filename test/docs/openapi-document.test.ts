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
      'refreshCookie',
      'refreshToken',
    ]);
    expect(doc.components.securitySchemes.refreshCookie).toMatchObject({
      type: 'apiKey',
      in: 'cookie',
      name: '__Secure-gh_refresh',
    });
    const used = new Set(
      Object.values<Record<string, any>>(doc.paths).flatMap((item) =>
        Object.values<any>(item).flatMap((operation) => operation.tags as string[]),
      ),
    );
    expect(doc.tags.map((tag: { name: string }) => tag.name).sort()).toEqual([...used].sort());
    for (const tag of doc.tags) expect(tag.description, tag.name).toEqual(expect.any(String));
  });

  it('shows an example of every request body and of every JSON answer', async () => {
    const doc = (await http.get('/docs/openapi.json')).body;
    const resolve = (schema: any): any =>
      schema?.$ref ? doc.components.schemas[schema.$ref.replace('#/components/schemas/', '')] : schema;
    /** An example of the schema itself, of each of its alternatives, or of its items. */
    const exemplified = (raw: any): boolean => {
      const schema = resolve(raw);
      if (!schema) return false;
      if (schema.example !== undefined || schema.examples !== undefined) return true;
      const alternatives = schema.anyOf ?? schema.oneOf;
      if (alternatives) return alternatives.every(exemplified);
      return schema.type === 'array' && exemplified(schema.items);
    };
    const missing: string[] = [];
    for (const [path, operations] of Object.entries<Record<string, any>>(doc.paths)) {
      for (const [method, operation] of Object.entries<any>(operations)) {
        const media: [string, any][] = Object.entries<any>(operation.requestBody?.content ?? {}).map(
          ([type, content]) => [`${method} ${path} request ${type}`, content],
        );
        for (const [status, response] of Object.entries<any>(operation.responses)) {
          for (const [type, content] of Object.entries<any>(response.content ?? {})) {
            if (type === 'application/json') media.push([`${method} ${path} ${status}`, content]);
          }
        }
        for (const [what, content] of media) {
          if (
            content.example === undefined &&
            content.examples === undefined &&
            !exemplified(content.schema)
          ) {
            missing.push(what);
          }
        }
      }
    }
    expect(missing).toEqual([]);
  });

  it('takes /auth/refresh without a body (the header form), and every other body as required', async () => {
    const doc = (await http.get('/docs/openapi.json')).body;
    expect(doc.paths['/auth/refresh'].post.requestBody.required).toBe(false);
    expect(doc.paths['/auth/refresh'].post.security).toEqual([
      {},
      { refreshToken: [] },
      { refreshCookie: [] },
    ]);
    for (const [path, method] of [
      ['/auth/signup', 'post'],
      ['/auth/signin', 'post'],
      ['/auth/password', 'post'],
      ['/users/{id}', 'patch'],
    ] as const) {
      expect(doc.paths[path][method].requestBody.required, `${method} ${path}`).toBe(true);
    }
  });

  it('documents cookie mode: the query parameter, the Set-Cookie header, the optional refreshToken, csrf_rejected', async () => {
    const doc = (await http.get('/docs/openapi.json')).body;
    for (const [path, status] of [
      ['/auth/signup', '201'],
      ['/auth/signin', '200'],
      ['/auth/signin/mfa', '200'],
      ['/auth/refresh', '200'],
    ] as const) {
      const operation = doc.paths[path].post;
      expect(operation.parameters, path).toEqual([
        expect.objectContaining({ name: 'cookie', in: 'query', required: false, schema: expect.anything() }),
      ]);
      expect(Object.keys(operation.responses[status].headers), path).toContain('Set-Cookie');
      expect(
        operation.responses['403'].content['application/json'].schema.properties.code.enum,
        path,
      ).toContain('csrf_rejected');
    }
    const pair = doc.paths['/auth/refresh'].post.responses['200'].content['application/json'].schema;
    expect(pair.required).not.toContain('refreshToken');
    expect(pair.properties.refreshToken.description).toMatch(/cookie mode/i);
    for (const path of ['/auth/signout', '/auth/signout/all']) {
      expect(doc.paths[path].post.responses['204'].headers['Set-Cookie'].required, path).toBe(true);
    }
  });

  it('documents the headers every response carries: no-store by default, a challenge on every 401', async () => {
    const doc = (await http.get('/docs/openapi.json')).body;
    for (const [path, operations] of Object.entries<Record<string, any>>(doc.paths)) {
      for (const [method, operation] of Object.entries<any>(operations)) {
        for (const [status, response] of Object.entries<any>(operation.responses)) {
          const what = `${method} ${path} ${status}`;
          expect(Object.keys(response.headers ?? {}), what).toContain('Cache-Control');
          if (status === '401') expect(Object.keys(response.headers), what).toContain('WWW-Authenticate');
        }
      }
    }
    expect(doc.paths['/users/me'].get.responses['200'].headers['Cache-Control']).toEqual({
      $ref: '#/components/headers/Cache-Control',
    });
    expect(doc.components.headers['Cache-Control'].schema.example).toBe('no-store');
  });
});
