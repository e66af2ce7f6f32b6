// The HTTP API client (docs/api.md): JSON in and out, errors as ApiError carrying the server's
// message, the field it names and the status, so forms can show them next to that field.

export class ApiError extends Error {
  constructor(status, message, field, retryAfter, region, url) {
    super(message);
    this.status = status;
    this.field = field || null;
    this.retryAfter = retryAfter || null;
    // An account another region holds (409 from sign-in, sign-up, reset): its region, and the
    // page there to continue on (docs/api.md, "Regions").
    this.region = region || null;
    this.url = url || null;
  }
}

/// Sends one request. `body` is JSON unless `type` is given (then it is sent as is, e.g. a CSV
/// File with type "text/csv"). Resolves to the parsed JSON (null for 204); rejects with ApiError.
export async function api(method, path, body, type) {
  const init = { method, headers: {}, credentials: 'same-origin' };
  if (body !== undefined) {
    init.headers['Content-Type'] = type || 'application/json';
    init.body = type ? body : JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'the server cannot be reached; check your connection and try again');
  }
  if (res.status === 204) {
    return null;
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch (e) {
    data = null;
  }
  if (res.status === 401 && path.startsWith('/api/')) {
    // The session ended elsewhere (sign out everywhere, expiry): session.js sends to sign-in.
    window.dispatchEvent(new Event('crm:signed-out'));
  }
  if (!res.ok) {
    const message = (data && data.error) || `the server answered ${res.status}`;
    throw new ApiError(res.status, message, data && data.field, res.headers.get('Retry-After'),
      data && data.region, data && data.url);
  }
  return data;
}

export const get = (path) => api('GET', path);
export const post = (path, body) => api('POST', path, body === undefined ? {} : body);

/// "?a=1&b=2" from an object, skipping empty values.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') {
      q.set(k, String(v));
    }
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}
