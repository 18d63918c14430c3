// The read API, with the key kept in this tab's sessionStorage only: never
// in a URL, a cookie or localStorage, and gone when the tab closes or the
// user signs out.

const KEY = 'healthexport.key';

export function key() {
  return sessionStorage.getItem(KEY);
}

export function setKey(k) {
  sessionStorage.setItem(KEY, k);
}

export function clearKey() {
  sessionStorage.removeItem(KEY);
}

// keyID is the public part of a key (hx_<id>_<secret>).
export function keyID(k = key()) {
  const m = /^hx_([A-Za-z0-9]+)_/.exec(k || '');
  return m ? m[1] : '';
}

// ApiError is an answer other than 2xx: status, the API's error code and
// its message.
export class ApiError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message || `HTTP ${status}`);
    this.status = status;
    this.code = code || '';
    this.retryAfter = retryAfter;
  }
}

// Listeners told when the key stops working (401): the app signs out.
const unauthorized = new Set();
export function onUnauthorized(fn) {
  unauthorized.add(fn);
}

// request sends one request with the key; the answer is JSON, text or a
// Blob (as).
export async function request(path, { method = 'GET', body, as = 'json', token = key(), signal } = {}) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let resp;
  try {
    resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal, cache: 'no-store' });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, 'network', 'The server cannot be reached. Check the connection and try again.');
  }
  if (!resp.ok) {
    let code = '';
    let msg = '';
    try {
      const e = await resp.json();
      code = e.error;
      msg = e.message;
    } catch {
      // not JSON: keep the status
    }
    const err = new ApiError(resp.status, code, explain(resp.status, msg), resp.headers.get('Retry-After'));
    if (resp.status === 401 && token === key()) unauthorized.forEach((fn) => fn(err));
    throw err;
  }
  if (resp.status === 204) return null;
  if (as === 'blob') return resp.blob();
  if (as === 'text') return resp.text();
  return resp.json();
}

function explain(status, msg) {
  switch (status) {
    case 401:
      return 'This key is not valid, or it was revoked.';
    case 429:
      return `Too many requests with this key for now: ${msg || 'retry later'}.`;
    case 503:
      return `The server is busy or a part of it is down: ${msg || 'retry shortly'}.`;
  }
  return msg || `The server answered ${status}.`;
}

// query builds a path with parameters (arrays repeat the name; empty values
// are left out, except those in keep).
export function query(path, params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null) continue;
    for (const one of Array.isArray(v) ? v : [v]) q.append(k, one);
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

// all follows a list's next cursors and returns the concatenated lists
// named in names (at most maxPages pages; truncated says if more remain).
export async function all(path, params, names, { maxPages = 50, signal } = {}) {
  const out = Object.fromEntries(names.map((n) => [n, []]));
  let cursor;
  let page;
  for (let i = 0; i < maxPages; i++) {
    page = await request(query(path, { ...params, cursor }), { signal });
    for (const n of names) out[n].push(...(page[n] || []));
    cursor = page.next;
    if (!cursor) return { ...out, head: page, truncated: false };
  }
  return { ...out, head: page, truncated: true };
}
