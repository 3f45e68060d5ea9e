import { useEffect, useState } from 'preact/hooks';
import { permissionsOf, type Permission } from '../../../src/access/policy';
import { ApiError, call, type Op, type Success, setTokenSource } from './client';

/**
 * The console's session, in cookie mode: the refresh token lives only in the HttpOnly cookie the
 * service sets (Path=/auth), which no script can read; the access token lives only in this
 * module's memory — never in localStorage, sessionStorage or a readable cookie. A reload starts
 * with no access token and asks for one with the cookie.
 */

export type Me = Success<Op<'/users/me', 'get'>>;

export type AuthState =
  | { status: 'loading' }
  | { status: 'signedOut'; reason?: string }
  | { status: 'signedIn'; me: Me; permissions: Set<Permission> };

let accessToken: string | undefined;

/**
 * A hint, not a secret: "this browser signed in and has not signed out", so that a visitor who
 * never signed in is not sent to /auth/refresh (and its 400) on every page load. It holds no token;
 * without it, a cookie that still exists is merely not tried.
 */
const HINT = 'gatehouse.signedIn';
const hint = {
  get: () => localStorage.getItem(HINT) === '1',
  set: (on: boolean) => (on ? localStorage.setItem(HINT, '1') : localStorage.removeItem(HINT)),
};
let state: AuthState = { status: 'loading' };
const listeners = new Set<(state: AuthState) => void>();
let renewing: Promise<boolean> | undefined;

function setState(next: AuthState): void {
  state = next;
  if (next.status !== 'loading') hint.set(next.status === 'signedIn');
  for (const listener of listeners) listener(next);
}

export function authState(): AuthState {
  return state;
}

/** The current state, re-rendering on change. */
export function useAuth(): AuthState {
  const [current, setCurrent] = useState(state);
  useEffect(() => {
    listeners.add(setCurrent);
    setCurrent(state);
    return () => void listeners.delete(setCurrent);
  }, []);
  return current;
}

/**
 * A new access token through the refresh cookie. One at a time: requests that find their token
 * expired together share one refresh (the service rotates the cookie on each).
 */
function renew(): Promise<boolean> {
  renewing ??= (async () => {
    try {
      // Cookie mode (?cookie=1): the refresh token travels only in the HttpOnly cookie.
      const { data } = await call('post', '/auth/refresh', { query: { cookie: '1' }, auth: false });
      accessToken = data.accessToken;
      return true;
    } catch {
      accessToken = undefined;
      if (state.status === 'signedIn') setState({ status: 'signedOut', reason: 'Your session has ended.' });
      return false;
    } finally {
      renewing = undefined;
    }
  })();
  return renewing;
}

setTokenSource({ accessToken: () => accessToken, renew });

/** Reads the signed-in user again (after a change to the account). */
export async function reloadMe(): Promise<void> {
  try {
    const { data: me } = await call('get', '/users/me');
    setState({ status: 'signedIn', me, permissions: permissionsOf(me.roles) });
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      accessToken = undefined;
      setState({ status: 'signedOut' });
    } else {
      throw error;
    }
  }
}

/** On load: a session exists when the cookie still refreshes. */
export async function startSession(): Promise<void> {
  if (hint.get() && (await renew())) await reloadMe().catch(() => setState({ status: 'signedOut' }));
  else setState({ status: 'signedOut' });
}

/** Takes the tokens of a signin or signup answer (the refresh token came as the cookie). */
export async function signedIn(token: string): Promise<void> {
  accessToken = token;
  await reloadMe();
}

/** Signs out this session (or every session): the service clears the cookie. */
export async function signOut(everywhere = false): Promise<void> {
  try {
    await call('post', everywhere ? '/auth/signout/all' : '/auth/signout');
  } finally {
    accessToken = undefined;
    setState({ status: 'signedOut' });
  }
}

/** Forgets the session without asking the service (it ended there already, e.g. after revoking it). */
export function sessionEnded(reason?: string): void {
  accessToken = undefined;
  setState({ status: 'signedOut', reason });
}
