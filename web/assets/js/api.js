// The REST API, as the page uses it. Every call rejects with the API's own error message, and
// sends the signed-in token, if any, as `Authorization: Bearer`.

const TOKEN_KEY = 'rota.token';
// Kept for this tab only (session storage), never in a cookie: no other site's page can make the
// browser send it.
let token = sessionStorage.getItem(TOKEN_KEY);

/** Sends `next` (an API token or an OIDC access token) with every call from now on; null: none. */
export function useToken(next) {
  token = next;
  if (next) sessionStorage.setItem(TOKEN_KEY, next);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export const hasToken = () => Boolean(token);

async function json(url, options = {}) {
  const headers = { ...options.headers };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(url, { ...options, headers });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error ?? `${response.status} ${response.statusText}`);
  return body;
}

const id = encodeURIComponent;

export const mapConfig = () => json('/api/map-config');
/** Who the token makes the caller, and how this api admits writes. */
export const session = () => json('/api/session');
export const route = (routeId) => json(`/api/routes/${id(routeId)}`);
export const ride = (rideId) => json(`/api/rides/${id(rideId)}`);
export const cancelRide = (rideId) => json(`/api/rides/${id(rideId)}`, { method: 'DELETE' });

export function startRide(routeId, speedKmh) {
  const body = speedKmh ? { routeId, speedKmh } : { routeId };
  return json('/api/rides', {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
}

/** Every route, following the listing's pages. */
export async function allRoutes() {
  const all = [];
  let cursor = '';
  do {
    const page = await json(`/api/routes?limit=500&cursor=${id(cursor)}`);
    all.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return all;
}

/** One page of recorded rides with this status, newest first. */
export function rides(status, cursor = '', limit = 20) {
  return json(`/api/rides?${new URLSearchParams({ status, limit, cursor })}`);
}
