// @ts-check
/**
 * The dashboard's only door to the server: the session (project and bearer token, kept in
 * sessionStorage so it ends with the tab) and `api()`, which sends the token on every call
 * and turns error bodies (`{"error": {code, message, details}}`, docs/api.md) into ApiError.
 */

const SESSION_KEY = 'hoard.session';

/** @returns {{project: string, token: string} | null} */
export function loadSession() {
  try {
    const value = JSON.parse(sessionStorage.getItem(SESSION_KEY) ?? 'null');
    if (value && typeof value.project === 'string' && typeof value.token === 'string') return value;
  } catch {
    // a damaged entry is no session
  }
  return null;
}

export function saveSession(project, token) {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify({ project, token }));
}

export function clearSession() {
  sessionStorage.removeItem(SESSION_KEY);
}

export class ApiError extends Error {
  /**
   * @param {number} status HTTP status (0 when the server could not be reached)
   * @param {string} code the error's stable code (`UNAUTHENTICATED`, `NOT_FOUND`, …)
   * @param {string} message
   * @param {any} [details] the error body's `details`
   */
  constructor(status, code, message, details) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** Builds `/v1/{project}/a/b?k=v` with every segment and value escaped; empty values are left out. */
export function v1Path(project, segments, query = {}) {
  const path = ['', 'v1', project, ...segments].map((s) => encodeURIComponent(String(s))).join('/');
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') params.set(key, String(value));
  }
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

/**
 * Calls the API as `session`. Resolves to the parsed JSON body (undefined for 204); rejects
 * with ApiError for any non-2xx answer, and with status 0 when the server is unreachable.
 * @param {{project: string, token: string}} session
 * @param {string} method
 * @param {(string | number)[]} segments path segments after `/v1/{project}`
 * @param {import('./types.js').CallOptions} [options]
 * @returns {Promise<any>}
 */
export async function api(session, method, segments, { query, body } = {}) {
  const headers = { authorization: `Bearer ${session.token}`, accept: 'application/json' };
  const init = { method, headers };
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(v1Path(session.project, segments, query), init);
  } catch (error) {
    throw new ApiError(0, 'UNREACHABLE', `the server could not be reached (${error.message})`);
  }
  const text = await response.text();
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!response.ok) {
    const err = json?.error ?? {};
    throw new ApiError(
      response.status,
      typeof err.code === 'string' ? err.code : `HTTP_${response.status}`,
      typeof err.message === 'string' ? err.message : `${response.status} ${response.statusText}`,
      err.details,
    );
  }
  return json;
}

/**
 * The URL of an operation's server-sent events. EventSource cannot set headers, so this one
 * URL carries the token as `access_token` (the server accepts it there only).
 */
export function eventsUrl(session, operationId) {
  return v1Path(session.project, ['operation_logs', operationId, 'events'], { access_token: session.token });
}
