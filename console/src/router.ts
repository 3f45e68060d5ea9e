import { useEffect, useState } from 'preact/hooks';

/** The console lives under /console; its routes are the paths below it. */
export const BASE = '/console';

const listeners = new Set<() => void>();

/** The console's path: `/account/sessions` for /console/account/sessions; `/` for /console. */
export function currentPath(): string {
  const path = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) : '/';
  return path === '' ? '/' : path.replace(/\/+$/, '') || '/';
}

/** Goes to a console path (`/signin?next=…`) without reloading the page. */
export function navigate(to: string, { replace = false } = {}): void {
  const url = BASE + (to === '/' ? '/' : to);
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  for (const listener of listeners) listener();
  window.scrollTo(0, 0);
}

addEventListener('popstate', () => {
  for (const listener of listeners) listener();
});

/** The current path and query, re-rendering on navigation. */
export function useLocation(): { path: string; query: URLSearchParams } {
  const [, setTick] = useState(0);
  useEffect(() => {
    const listener = () => setTick((tick) => tick + 1);
    listeners.add(listener);
    return () => void listeners.delete(listener);
  }, []);
  return { path: currentPath(), query: new URLSearchParams(location.search) };
}

/**
 * The token of a mailed link (`#token=…`), taken out of the address bar at once so that it stays
 * in neither the history nor a bookmark. The fragment never reaches a server or a Referer.
 */
export function takeFragmentToken(): string | undefined {
  const token = new URLSearchParams(location.hash.slice(1)).get('token') ?? undefined;
  if (location.hash) history.replaceState(null, '', location.pathname + location.search);
  return token;
}
