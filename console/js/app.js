// SPDX-License-Identifier: Apache-2.0
// The console's entry: login and logout, the header, the page routes.

import { onUnauthorized, request } from './api.js';
import { mountAudit } from './audit.js';
import { byId } from './dom.js';
import { mountFlows } from './flows.js';
import { mountOverview } from './overview.js';
import { mountPeers } from './peers.js';
import { mountPolicy } from './policy.js';
import { createRouter } from './router.js';
import { mountServices } from './services.js';
import * as session from './session.js';
import { initTheme } from './theme.js';

// role is the least one that may see the page (docs/api.md gives each
// route's role); the API refuses what the role may not do anyway.
const ROUTES = [
  { path: '/overview', title: 'Overview', role: 'viewer', mount: mountOverview },
  { path: '/policy', title: 'Policy', role: 'viewer', mount: mountPolicy },
  { path: '/flows', title: 'Flows', role: 'viewer', mount: mountFlows },
  { path: '/peers', title: 'Peers', role: 'viewer', mount: mountPeers },
  { path: '/services', title: 'Services', role: 'viewer', mount: mountServices },
  { path: '/audit', title: 'Audit log', role: 'operator', mount: mountAudit },
];

const router = createRouter({
  routes: ROUTES,
  outlet: byId('page'),
  nav: byId('nav'),
  allows: session.allows,
  home: '/overview',
});

/** GET /v1/whoami with a token not yet kept: its 401 is the form's. */
async function whoami(token) {
  const who = await request('GET', '/v1/whoami', undefined, { token });
  if (typeof who?.name !== 'string' || !session.ROLES.includes(who?.role)) {
    throw new Error('the gateway answered /v1/whoami with an unknown role');
  }
  return who;
}

function showLogin(message) {
  byId('session').hidden = true;
  byId('nav').hidden = true;
  byId('login-view').hidden = false;
  const err = byId('login-error');
  err.textContent = message ?? '';
  err.hidden = !message;
  byId('token').focus();
}

function enter(token, who) {
  session.begin(token, who);
  byId('token').value = ''; // kept in sessionStorage, not in the DOM
  byId('who-name').textContent = who.name;
  byId('who-role').textContent = who.role;
  byId('who-role').dataset.role = who.role;
  byId('login-view').hidden = true;
  byId('session').hidden = false;
  byId('nav').hidden = false;
  router.start();
}

// Idempotent: the polls and the stream may all meet the same 401.
let loggedIn = false;

function logout(message) {
  if (!loggedIn) return;
  loggedIn = false;
  router.stop(); // aborts the page's polls and event stream
  session.end();
  showLogin(message);
}

async function login(token) {
  const who = await whoami(token);
  loggedIn = true;
  enter(token, who);
}

function loginMessage(e) {
  if (e.status === 401) return 'token not accepted';
  return `Could not log in: ${e.message}`; // 429 says to wait a minute
}

byId('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const token = byId('token').value.trim();
  const button = byId('login');
  if (!token) {
    showLogin('Paste a token first.');
    return;
  }
  button.disabled = true;
  try {
    await login(token);
  } catch (e) {
    showLogin(loginMessage(e));
  } finally {
    button.disabled = false;
  }
});

byId('logout').addEventListener('click', () => logout());

onUnauthorized(() => logout('Your session ended: the gateway no longer accepts this token. Log in again.'));

initTheme(byId('theme'));

// A reload keeps the tab's token; ask again who it is, as it may have
// been revoked since.
const kept = session.token();
if (kept) {
  login(kept).catch((e) => {
    // only a refused token is forgotten: a gateway restarting is not
    // a reason to paste it again
    if (e.status === 401) session.end();
    showLogin(loginMessage(e));
  });
} else {
  showLogin();
}
