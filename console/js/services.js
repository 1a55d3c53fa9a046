// SPDX-License-Identifier: Apache-2.0
// The Services page: each load-balanced service, its backends' health and
// flows, and the failover history.

import { request } from './api.js';
import { badge, h, refill } from './dom.js';
import { count, endpoint } from './format.js';
import { fromUnix, timeCell } from './human.js';
import { panel, syncRows, table } from './panel.js';
import { poll, whileVisible } from './timing.js';

const EVERY_MS = 5000;
const HEALTH = { up: 'ok', down: 'bad', unchecked: 'neutral' };

function layout() {
  return h('div', { class: 'fleet-page' },
    h('div', { class: 'page-head' }, h('h1', {}, 'Services'), h('span', { class: 'muted', id: 'services-meta' })),
    h('p', { class: 'panel-error page-error', id: 'services-error', role: 'status', hidden: true }),
    h('div', { id: 'services' }),
    h('p', { class: 'card empty', id: 'services-empty', hidden: true },
      'No load-balanced services: a service that lists backends in the policy appears here.'),
    panel('Failover history', { id: 'transitions-panel' },
      h('span', { class: 'muted small' }, 'the last 64 health changes, newest first'),
      h('div', { class: 'scroll' }, table({ id: 'transitions' },
        [['Time'], ['Service'], ['Backend'], ['State'], ['Why']])),
      h('p', { class: 'empty', id: 'transitions-empty', hidden: true }, 'No health changes since the gateway started.')));
}

/**
 * As the daemon writes a backend (in transitions and the audit log, and
 * what tr[data-backend] holds): "10.0.0.1:80", "[fd00::1]:80", the
 * address alone for port 0.  endpoint() shows a port for TCP and UDP
 * alike, so either names a backend's.
 */
function backendName(b) {
  return endpoint(b.address, b.port, b.port ? 'tcp' : 'none');
}

function probeText(p) {
  if (!p || p.type === 'none') return 'no health checks: every backend counts as up';
  return `${p.type} every ${count(p.interval_ms)} ms, timeout ${count(p.timeout_ms)} ms, `
    + `up after ${p.rise}, down after ${p.fall}`;
}

function ms(us) {
  if (!Number.isFinite(us) || us <= 0) return '—'; // 0: no probe has answered
  const v = us / 1000;
  return `${v < 10 ? v.toFixed(2) : v.toFixed(1)} ms`;
}

function newFlows(b) {
  if (b.drain) return badge('draining', 'warn');
  return b.active ? h('span', {}, 'yes') : h('span', { class: 'muted' }, 'no');
}

// [head, the head's class, the cells' class]
const BACKEND_COLS = [['Backend', '', 'mono nowrap'], ['Weight', 'num', 'num'], ['Health'], ['New flows'],
  ['Flows', 'num', 'num'], ['RTT', 'num', 'num nowrap'], ['Checks / failures', 'num', 'num nowrap'],
  ['Since'], ['Last error', '', 'last-error']];

function backendRow() {
  return h('tr', {}, BACKEND_COLS.map(([, , cls]) => h('td', { class: cls || null })));
}

/** Refills what changed of a backend's row: a selection elsewhere stays. */
function updateBackend(tr, { b, now }) {
  const c = tr.children;
  const checked = Number.isFinite(b.checks);
  refill(c[0], backendName(b));
  refill(c[1], count(b.weight));
  setData(c[2], 'health', b.health ?? '');
  refill(c[2], badge(b.health, HEALTH[b.health] ?? 'neutral'));
  setData(c[3], 'active', String(Boolean(b.active)));
  refill(c[3], newFlows(b));
  refill(c[4], count(b.flows));
  refill(c[5], checked && b.checks > 0 ? ms(b.rtt_us) : '—');
  refill(c[6], checked ? `${count(b.checks)} / ${count(b.failures)}` : '—');
  refill(c[7], checked ? timeCell(fromUnix(b.since), now) : h('span', { class: 'muted' }, '—'));
  refill(c[8], b.last_error ? b.last_error : h('span', { class: 'muted' }, '—'));
}

function setData(el, name, value) {
  if (el.dataset[name] !== value) el.dataset[name] = value;
}

/** A service's card, empty: updateCard() fills it. */
function serviceCard() {
  return h('section', { class: 'card panel service' },
    h('header', { class: 'panel-head' },
      h('h2', {}),
      h('span', { class: 'tag' }),
      h('span', { class: 'service-taking' })),
    h('div', { class: 'service-facts' },
      h('div', { class: 'fact' }, h('span', { class: 'muted' }, 'Virtual'), h('span', { class: 'fact-vips' })),
      h('div', { class: 'fact' }, h('span', { class: 'muted' }, 'Balance'), h('span', { class: 'mono fact-balance' })),
      h('div', { class: 'fact' }, h('span', { class: 'muted' }, 'Probe'), h('span', { class: 'fact-probe' }))),
    // kept across polls: its horizontal scroll position with it
    h('div', { class: 'scroll-x' },
      h('table', { class: 'table backends' },
        h('thead', {}, h('tr', {}, BACKEND_COLS.map(([t, cls]) => h('th', { class: cls || null, scope: 'col' }, t)))),
        h('tbody'))));
}

function updateCard(card, { s, now }) {
  const $ = (sel) => card.querySelector(sel);
  const bs = Array.isArray(s.backends) ? s.backends : [];
  const taking = bs.filter((b) => b.active).length;
  const vips = (Array.isArray(s.virtual) ? s.virtual : [])
    .map((v) => h('span', { class: 'mono nowrap vip' }, `${v.address} ${v.port}`));
  refill($('h2'), s.name);
  refill($('.tag'), s.family);
  const t = $('.service-taking');
  t.classList.toggle('muted', taking > 0);
  t.classList.toggle('bad-text', !taking);
  refill(t, `${taking} of ${bs.length} backend${bs.length === 1 ? '' : 's'} take new flows`);
  refill($('.fact-vips'), vips.length ? vips : '—');
  refill($('.fact-balance'), s.balance);
  refill($('.fact-probe'), probeText(s.probe));
  syncRows($('tbody'), bs.map((b) => ({ b, now })), {
    attr: 'data-backend', key: (it) => backendName(it.b), make: backendRow, update: updateBackend,
  });
}

function transitionRow() {
  return h('tr', {}, h('td'), h('td'), h('td', { class: 'mono nowrap' }), h('td'), h('td'));
}

function updateTransition(tr, { x, now }) {
  const c = tr.children;
  setData(tr, 'service', String(x.service ?? ''));
  setData(tr, 'backend', String(x.backend ?? ''));
  refill(c[0], timeCell(fromUnix(x.at), now));
  refill(c[1], x.service);
  refill(c[2], x.backend);
  refill(c[3], badge(x.state, HEALTH[x.state] ?? 'neutral'));
  refill(c[4], x.why || h('span', { class: 'muted' }, '—'));
}

/** A transition's key: what it says, and which of its like it is (two in one second are possible). */
function transitionKeys(hist) {
  const seen = new Map();
  return hist.map((x) => {
    const k = `${x.at}|${x.service}|${x.backend}|${x.state}`;
    const n = (seen.get(k) ?? 0) + 1;
    seen.set(k, n);
    return `${k}|${n}`;
  });
}

function render(root, data) {
  const now = new Date();
  const svcs = Array.isArray(data?.services) ? data.services : [];
  const hist = Array.isArray(data?.transitions) ? [...data.transitions].reverse() : [];
  const all = svcs.flatMap((s) => s.backends ?? []);
  const down = all.filter((b) => b.health === 'down').length;
  // updated in place, keyed by name: nothing that did not change is rebuilt
  syncRows(root.querySelector('#services'), svcs.map((s) => ({ s, now })), {
    attr: 'data-service', key: (it) => it.s.name, make: serviceCard, update: updateCard,
  });
  root.querySelector('#services-empty').hidden = svcs.length > 0;
  refill(root.querySelector('#services-meta'), svcs.length
    ? `${svcs.length} service${svcs.length === 1 ? '' : 's'} · ${all.length} backends · ${down} down` : '');
  const keys = transitionKeys(hist);
  syncRows(root.querySelector('#transitions tbody'), hist.map((x, i) => ({ x, now, k: keys[i] })), {
    attr: 'data-transition', key: (it) => it.k, make: transitionRow, update: updateTransition,
  });
  root.querySelector('#transitions-empty').hidden = hist.length > 0;
}

/** The Services page; returns its unmount. */
export function mountServices(outlet) {
  const root = layout();
  outlet.append(root);
  const errorEl = root.querySelector('#services-error');

  async function load(signal) {
    try {
      render(root, await request('GET', '/v1/services', undefined, { signal }));
      errorEl.hidden = true;
    } catch (e) {
      if (signal.aborted) return;
      // what was shown stays: it is the last known, the error says so
      errorEl.textContent = `Services: ${e.message}`;
      errorEl.hidden = false;
    }
  }

  return whileVisible(() => poll(load, EVERY_MS));
}
