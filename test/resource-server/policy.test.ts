import { GATEHOUSE_ROLE_PERMISSIONS } from '@gatehouse/nest';
import { describe, expect, it } from 'vitest';
import { ROLE_PERMISSIONS } from '../../src/access/policy.js';

/**
 * The kit is published on its own and cannot import the service, so it carries a copy of the
 * service's built-in policy as its default: this keeps the copy true.
 */
describe('@gatehouse/nest default policy', () => {
  it('grants each role what the service grants it', () => {
    expect(GATEHOUSE_ROLE_PERMISSIONS).toEqual(ROLE_PERMISSIONS);
  });
});
