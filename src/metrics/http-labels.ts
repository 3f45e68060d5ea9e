/** The `route` label of a request that matched no route: one series for all of them. */
export const UNMATCHED_ROUTE = 'unmatched';

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/**
 * The `route` label: the route pattern (`/auth/sessions/:id`), never the raw
 * URL, so that the number of series stays bounded whatever clients request.
 */
export function routeLabel(routePattern: string | undefined): string {
  return routePattern === undefined || routePattern === '' ? UNMATCHED_ROUTE : routePattern;
}

/** The `method` label: the usual methods as they are, anything else as `OTHER`. */
export function methodLabel(method: string): string {
  return KNOWN_METHODS.has(method) ? method : 'OTHER';
}
