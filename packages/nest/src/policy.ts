/**
 * Gatehouse's built-in policy: what each of its roles grants. Access tokens
 * carry role names, not permissions, so a resource server maps them itself;
 * give `rolePermissions` to GatehouseModule to use your own map instead. (A copy of the service's
 * src/access/policy.ts: test/resource-server/policy.test.ts keeps the two equal.)
 */
export const GATEHOUSE_ROLE_PERMISSIONS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  /** Any signed-in account: nothing beyond being signed in. */
  user: [],
  admin: [
    'users:read',
    'users:write',
    'sessions:revoke',
    'audit:read',
    'clients:read',
    'clients:write',
    'keys:write',
  ],
});

/** Every permission the given roles grant together (unknown role names grant nothing). */
export function permissionsOf(
  roles: readonly string[],
  map: Readonly<Record<string, readonly string[]>>,
): Set<string> {
  const granted = new Set<string>();
  for (const role of roles) {
    if (Object.hasOwn(map, role)) for (const permission of map[role]!) granted.add(permission);
  }
  return granted;
}
