// SPDX-License-Identifier: Apache-2.0
// The JSON API client: bearer token, error decoding, the 401 hook.

import { token } from './session.js';

/** An API refusal: status 0 means the gateway could not be reached. */
export class ApiError extends Error {
  constructor(status, message, field, body) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.field = field;
    this.body = body; // the whole JSON reply: a refused push's errors[] and warnings[]
  }
}

let unauthorized = null;

/** fn(error) runs when the session's token is refused (401). */
export function onUnauthorized(fn) {
  unauthorized = fn;
}

/**
 * fetch() with the token, resolving to the Response when it is 2xx and
 * throwing ApiError otherwise.  opts.token overrides the session's token
 * (the login form tries one before keeping it); a 401 then is the form's
 * business, not a reason to end the session.
 */
export async function send(method, path, opts = {}) {
  const explicit = 'token' in opts;
  const tok = explicit ? opts.token : token();
  const headers = new Headers({ Accept: opts.accept ?? 'application/json' });
  let body;
  if (tok) headers.set('Authorization', `Bearer ${tok}`);
  if (typeof opts.body === 'string') {
    headers.set('Content-Type', 'application/yaml'); // a policy push
    body = opts.body;
  } else if (opts.body !== undefined) {
    headers.set('Content-Type', 'application/json');
    body = JSON.stringify(opts.body);
  }
  let res;
  try {
    res = await fetch(path, { method, headers, body, signal: opts.signal, cache: 'no-store' });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, `cannot reach the gateway (${e.message})`);
  }
  if (res.ok) return res;
  const err = await errorOf(res);
  if (res.status === 401 && !explicit && unauthorized) unauthorized(err);
  throw err;
}

async function errorOf(res) {
  let message = `HTTP ${res.status}`;
  let field;
  let body;
  try {
    const j = JSON.parse(await res.text());
    if (typeof j?.error === 'string') {
      message = j.error;
      field = j.field;
      body = j;
    }
  } catch {
    // evhttp's own errors (413, a malformed request) are HTML: keep HTTP N
  }
  return new ApiError(res.status, message, field, body);
}

/**
 * A failed action in a sentence: describe(err, 'push') → "Your role may
 * not push: …" for a 403, "Could not push: …" otherwise.
 */
export function describe(err, what) {
  if (err?.status === 403) return `Your role may not ${what}: ${err.message}`;
  return `Could not ${what}: ${err?.message ?? err}`;
}

/** request('GET', '/v1/status') → the decoded JSON (null for no body). */
export async function request(method, path, body, opts = {}) {
  const res = await send(method, path, { ...opts, body });
  const text = await res.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError(res.status, `${path}: the answer is not JSON`);
  }
}
