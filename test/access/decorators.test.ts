import { describe, expect, it } from 'vitest';
import { Authenticated, REQUIRED_PERMISSIONS } from '../../src/access/access.decorators.js';

/** What @Authenticated() leaves on a handler, as Nest's guards and @nestjs/swagger read it. */
function metadataOf(decorator: MethodDecorator) {
  class Probe {
    handler(): void {}
  }
  const descriptor = Object.getOwnPropertyDescriptor(Probe.prototype, 'handler')!;
  decorator(Probe.prototype, 'handler', descriptor);
  const read = <T>(key: string) => Reflect.getMetadata(key, descriptor.value as object) as T | undefined;
  type Response = { content: Record<string, { schema: { properties: { code: { enum: string[] } } } }> };
  const responses = read<Record<string, Response>>('swagger/apiResponse');
  const codes = Object.fromEntries(
    Object.entries(responses ?? {}).map(([status, response]) => [
      status,
      response.content['application/json']!.schema.properties.code.enum,
    ]),
  );
  return {
    permissions: read<string[]>(REQUIRED_PERMISSIONS),
    security: read<object[]>('swagger/apiSecurity'),
    codes,
  };
}

describe('@Authenticated()', () => {
  it('documents bearer auth, the four authentication errors and 503, and requires no permission', () => {
    const meta = metadataOf(Authenticated());
    expect(meta.permissions).toBeUndefined();
    expect(meta.security).toEqual([{ bearer: [] }]);
    expect(meta.codes).toEqual({
      401: ['missing_token', 'invalid_token', 'token_expired', 'session_revoked'],
      503: ['unavailable'],
    });
  });

  it('with a permission: requires it and documents 403 forbidden', () => {
    const meta = metadataOf(
      Authenticated({ permission: 'users:write', errors: ['not_found', 'last_admin'] }),
    );
    expect(meta.permissions).toEqual(['users:write']);
    expect(meta.codes).toEqual({
      401: ['missing_token', 'invalid_token', 'token_expired', 'session_revoked'],
      403: ['forbidden'],
      404: ['not_found'],
      409: ['last_admin'],
      503: ['unavailable'],
    });
  });

  it("puts the route's own codes of a shared status first", () => {
    const meta = metadataOf(Authenticated({ errors: ['invalid_credentials'] }));
    expect(meta.codes[401]).toEqual([
      'invalid_credentials',
      'missing_token',
      'invalid_token',
      'token_expired',
      'session_revoked',
    ]);
  });
});
