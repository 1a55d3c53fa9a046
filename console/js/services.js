// SPDX-License-Identifier: Apache-2.0
// The Services page: each load-balanced service, its backends' health and
// flows, and the failover history.

import { request } from './api.js';
import { badge, fill, h } from './dom.js';
import { count } from './format.js';
import { fromUnix, timeCell } from './human.js';
import { panel, table } from './panel.js';
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

/** "10.0.0.1:80", "[fd00::1]:80", or the address alone for port 0: as the
 * daemon writes a backend in transitions and the audit log. */
function backendName(b) {
  const a = String(b.address ?? '?');
  if (!b.port) return a;
  return a.includes(':') ? `[${a}]:${b.port}` : `${a}:${b.port}`;
}

function probeText(p) {
  if (!p || p.type === 'none') return 'no health checks: every backend counts as up';
  return `${p.type} every ${count(p.interval_ms)} ms, timeout ${count(p.timeout_ms)} ms, `
    + `up after ${p.rise}, down after ${p.fall}`;
}

function fact(label, ...value) {
  return h('div', { class: 'fact' }, h('span', { class: 'muted' }, label), h('span', {}, ...value));
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

function backendRow(b, now) {
  const checked = Number.isFinite(b.checks);
  return h('tr', { 'data-backend': backendName(b) },
    h('td', { class: 'mono nowrap' }, backendName(b)),
    h('td', { class: 'num' }, count(b.weight)),
    h('td', { 'data-health': b.health ?? '' }, badge(b.health, HEALTH[b.health] ?? 'neutral')),
    h('td', { 'data-active': String(Boolean(b.active)) }, newFlows(b)),
    h('td', { class: 'num' }, count(b.flows)),
    h('td', { class: 'num nowrap' }, checked && b.checks > 0 ? ms(b.rtt_us) : '—'),
    h('td', { class: 'num nowrap' }, checked ? `${count(b.checks)} / ${count(b.failures)}` : '—'),
    h('td', {}, checked ? timeCell(fromUnix(b.since), now) : h('span', { class: 'muted' }, '—')),
    h('td', { class: 'last-error' }, b.last_error ? b.last_error : h('span', { class: 'muted' }, '—')));
}

function serviceCard(s, now) {
  const bs = Array.isArray(s.backends) ? s.backends : [];
  const taking = bs.filter((b) => b.active).length;
  const vips = (Array.isArray(s.virtual) ? s.virtual : [])
    .map((v) => h('span', { class: 'mono nowrap vip' }, `${v.address} ${v.port}`));
  return h('section', { class: 'card panel service', 'data-service': s.name },
    h('header', { class: 'panel-head' },
      h('h2', {}, s.name),
      h('span', { class: 'tag' }, s.family),
      h('span', { class: taking ? 'muted' : 'bad-text' },
        `${taking} of ${bs.length} backend${bs.length === 1 ? '' : 's'} take new flows`)),
    h('div', { class: 'service-facts' },
      fact('Virtual', vips.length ? vips : '—'),
      fact('Balance', h('span', { class: 'mono' }, s.balance)),
      fact('Probe', probeText(s.probe))),
    h('div', { class: 'scroll-x' },
      h('table', { class: 'table backends' },
        h('thead', {}, h('tr', {}, [['Backend'], ['Weight', 'num'], ['Health'], ['New flows'], ['Flows', 'num'],
          ['RTT', 'num'], ['Checks / failures', 'num'], ['Since'], ['Last error']]
          .map(([t, cls]) => h('th', { class: cls, scope: 'col' }, t)))),
        h('tbody', {}, bs.map((b) => backendRow(b, now))))));
}

function transitionRow(x, now) {
  return h('tr', { 'data-service': x.service, 'data-backend': x.backend },
    h('td', {}, timeCell(fromUnix(x.at), now)),
    h('td', {}, x.service),
    h('td', { class: 'mono nowrap' }, x.backend),
    h('td', {}, badge(x.state, HEALTH[x.state] ?? 'neutral')),
    h('td', {}, x.why || h('span', { class: 'muted' }, '—')));
}

function render(root, data) {
  const now = new Date();
  const svcs = Array.isArray(data?.services) ? data.services : [];
  const hist = Array.isArray(data?.transitions) ? [...data.transitions].reverse() : [];
  const all = svcs.flatMap((s) => s.backends ?? []);
  const down = all.filter((b) => b.health === 'down').length;
  fill(root.querySelector('#services'), svcs.map((s) => serviceCard(s, now)));
  root.querySelector('#services-empty').hidden = svcs.length > 0;
  fill(root.querySelector('#services-meta'), svcs.length
    ? `${svcs.length} service${svcs.length === 1 ? '' : 's'} · ${all.length} backends · ${down} down` : '');
  fill(root.querySelector('#transitions tbody'), hist.map((x) => transitionRow(x, now)));
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
