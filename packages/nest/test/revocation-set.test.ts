import { describe, expect, it } from 'vitest';
import type { GatehousePrincipal } from '../src/principal.js';
import { parseRevocation, RevocationSet } from '../src/revocation-set.js';

const T0 = Date.UTC(2030, 0, 1);
const MIN = 60_000;

const user = (sessionId: string, roles: string[] = ['user']): GatehousePrincipal => ({
  userId: 'u1',
  sessionId,
  roles,
  amr: ['pwd'],
  tokenId: 'j',
  expiresAt: new Date(T0 + 15 * MIN),
});
const client = (clientId: string): GatehousePrincipal => ({
  userId: clientId,
  sessionId: undefined,
  clientId,
  scopes: ['a'],
  roles: [],
  amr: [],
  tokenId: 'j',
  expiresAt: new Date(T0 + 15 * MIN),
});

function setAt(clock: { now: number }) {
  return new RevocationSet(5_000, () => clock.now);
}

const event = (
  over: Partial<{ sid: string | null; sub: string; reason: string; roles: string[]; at: number }>,
) =>
  parseRevocation({
    sid: over.sid === undefined ? 's1' : over.sid,
    sub: over.sub ?? 'u1',
    revokedAt: new Date(over.at ?? T0).toISOString(),
    until: new Date((over.at ?? T0) + 16 * MIN).toISOString(),
    reason: over.reason ?? 'signout',
    ...(over.roles ? { roles: over.roles } : {}),
  })!;

describe('the revocation set', () => {
  it("refuses every token of an ended session until the event's until (plus the leeway), then forgets it", () => {
    const clock = { now: T0 };
    const set = setAt(clock);
    set.apply(event({ reason: 'user_disabled' }));
    expect(set.refusal(user('s1'))).toBe('session_revoked');
    expect(set.refusal(user('s1', ['admin']))).toBe('session_revoked');
    expect(set.refusal(user('s2'))).toBeUndefined();
    clock.now = T0 + 16 * MIN + 5_000;
    expect(set.refusal(user('s1'))).toBe('session_revoked');
    clock.now = T0 + 16 * MIN + 5_001;
    expect(set.refusal(user('s1'))).toBeUndefined();
    set.prune();
    expect(set.size).toBe(0);
  });

  it('treats an unknown reason as a revocation, and applying an event twice changes nothing', () => {
    const set = setAt({ now: T0 });
    const e = event({ reason: 'something_new' });
    set.apply(e);
    set.apply(e);
    expect(set.refusal(user('s1'))).toBe('session_revoked');
    expect(set.size).toBe(1);
  });

  it('roles_changed refuses the tokens with other roles only, and the latest change wins', () => {
    const set = setAt({ now: T0 });
    set.apply(event({ reason: 'roles_changed', roles: ['user'], at: T0 }));
    expect(set.refusal(user('s1', ['admin', 'user']))).toBe('roles_changed');
    expect(set.refusal(user('s1', ['user']))).toBeUndefined();
    // A later promotion, then the earlier event replayed out of order: the later one holds.
    const promoted = event({ reason: 'roles_changed', roles: ['user', 'admin'], at: T0 + 1_000 });
    set.apply(promoted);
    set.apply(event({ reason: 'roles_changed', roles: ['user'], at: T0 }));
    expect(set.refusal(user('s1', ['admin', 'user']))).toBeUndefined(); // a set: order does not matter
    expect(set.refusal(user('s1', ['user']))).toBe('roles_changed');
  });

  it('a role change never lifts a revocation', () => {
    const set = setAt({ now: T0 });
    set.apply(event({ reason: 'signout', at: T0 }));
    set.apply(event({ reason: 'roles_changed', roles: ['user'], at: T0 + 1_000 }));
    expect(set.refusal(user('s1', ['user']))).toBe('session_revoked');
  });

  it('client_deleted refuses the tokens of that client only', () => {
    const set = setAt({ now: T0 });
    set.apply(event({ sid: null, sub: 'c1', reason: 'client_deleted' }));
    expect(set.refusal(client('c1'))).toBe('client_deleted');
    expect(set.refusal(client('c2'))).toBeUndefined();
    expect(set.refusal(user('c1'))).toBeUndefined();
  });

  it('reads only well-formed events; a roles_changed without roles counts as a revocation', () => {
    expect(
      parseRevocation({ sid: 's', sub: 'u', revokedAt: 'x', until: 'y', reason: 'signout' }),
    ).toBeUndefined();
    expect(parseRevocation({ sid: 5, sub: 'u', revokedAt: new Date().toISOString() })).toBeUndefined();
    expect(parseRevocation(null)).toBeUndefined();
    const noRoles = parseRevocation({
      sid: 's',
      sub: 'u',
      revokedAt: new Date(T0).toISOString(),
      until: new Date(T0 + MIN).toISOString(),
      reason: 'roles_changed',
    });
    expect(noRoles?.reason).toBe('revoked');
  });
});
