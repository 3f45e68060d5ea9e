import { describe, expect, it } from 'vitest';
import { AuthController } from '../../src/auth/auth.controller.js';
import { AuthService } from '../../src/auth/auth.service.js';

/**
 * Nest and @nestjs/swagger read TypeScript's emitted decorator metadata.
 * esbuild (Vitest's default compiler) does not emit it; SWC, configured in
 * vitest.config.ts, does. If this fails, the test build lost it.
 */
describe('decorator metadata', () => {
  it('is emitted for constructor parameters', () => {
    const types = Reflect.getMetadata('design:paramtypes', AuthService) as unknown[] | undefined;
    expect(types).toBeDefined();
    expect(types!.length).toBeGreaterThan(0);
  });

  it('is emitted for route handler parameters', () => {
    const types = Reflect.getMetadata('design:paramtypes', AuthController.prototype, 'signup') as
      unknown[] | undefined;
    expect(types).toHaveLength(4); // body, cookie-mode query, client, exchange
  });
});
