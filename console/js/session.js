// SPDX-License-Identifier: Apache-2.0
// Who is logged in: the token (sessionStorage only) and its name and role.

const TOKEN_KEY = 'portcullis.token';

/** Ordered: each role may do everything the ones before it may. */
export const ROLES = ['viewer', 'operator', 'admin'];

let who = null; // {name, role} from GET /v1/whoami

// sessionStorage, not localStorage: the token dies with the tab and is
// never shared with other tabs or written to disk by the browser.
export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function begin(tok, identity) {
  sessionStorage.setItem(TOKEN_KEY, tok);
  who = identity;
}

export function end() {
  sessionStorage.clear();
  who = null;
}

export function identity() {
  return who;
}

/** Does the logged-in role reach `role`?  Unknown roles reach nothing. */
export function allows(role) {
  const have = who ? ROLES.indexOf(who.role) : -1;
  return have >= 0 && have >= ROLES.indexOf(role);
}
