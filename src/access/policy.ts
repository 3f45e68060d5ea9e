/**
 * The authorization policy: every permission, and what each role grants.
 * Adding a role or a permission is a one-line change here and nowhere else.
 */
export const PERMISSIONS = [
  'users:read',
  'users:write',
  'sessions:revoke',
  'audit:read',
  'clients:read',
  'clients:write',
  'keys:write',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

export const ROLE_PERMISSIONS = {
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
} as const satisfies Record<string, readonly Permission[]>;

export type Role = keyof typeof ROLE_PERMISSIONS;
export const ROLES = Object.keys(ROLE_PERMISSIONS) as Role[];

/** The role whose last active holder cannot be demoted, disabled or deleted. */
export const ADMIN_ROLE: Role = 'admin';

export function isRole(name: string): name is Role {
  return Object.hasOwn(ROLE_PERMISSIONS, name);
}

/** Every permission the given roles grant together (unknown role names grant nothing). */
export function permissionsOf(roles: readonly string[]): Set<Permission> {
  const granted = new Set<Permission>();
  for (const role of roles) {
    if (isRole(role)) for (const permission of ROLE_PERMISSIONS[role]) granted.add(permission);
  }
  return granted;
}
