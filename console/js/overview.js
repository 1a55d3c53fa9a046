// SPDX-License-Identifier: Apache-2.0
// The Overview page: rates now, gateways, the policy in force, live denies.

import { request } from './api.js';
import { badge, fill, h } from './dom.js';
import { bytesRate, clock, count, endpoint, protoLabel, rate } from './format.js';
import { panel, panelError, table } from './panel.js';
import { openEventStream } from './sse.js';
import { poll, whileVisible } from './timing.js';

const STATUS_EVERY_MS = 2000;
const GATEWAYS_EVERY_MS = 5000;
const MAX_DENIES = 200;
const HEALTH = { ok: 'ok', degraded: 'warn', lost: 'bad' };

function tile(label, id, sub = '\u00a0') {
  return h('div', { class: 'tile' },
    h('div', { class: 'tile-label' }, label),
    h('div', { class: 'tile-value', id }, '—'),
    h('div', { class: 'tile-sub', id: `${id}-sub` }, sub));
}

function layout() {
  return h('div', { class: 'overview' },
    h('div', { class: 'page-head' }, h('h1', {}, 'Overview')),
    h('section', { class: 'tiles', id: 'now' },
      // a rate needs two samples: the first tells nothing yet
      tile('Allowed', 'allowed-pps', 'measuring…'),
      tile('Denied', 'denied-pps', 'measuring…'),
      tile('Flows', 'flows'),
      tile('Policy generation', 'generation')),
    h('p', { class: 'panel-error', id: 'now-error', role: 'status', hidden: true }),
    h('div', { class: 'columns' },
      panel('Gateways', { id: 'gateways-panel' }, h('span', { class: 'muted', id: 'fleet-meta' }),
        h('div', { class: 'scroll-x' }, table({ id: 'gateways' }, [['Gateway'], ['State'], ['Health'],
          ['Policy'], ['Flows', 'num'], ['Packets/s', 'num']]))),
      panel('Policy in force', { id: 'policy-panel' }, null, h('dl', { class: 'facts', id: 'policy' }))),
    panel('Live denies', { id: 'denies-panel' },
      h('span', { class: 'panel-meta' },
        h('span', { class: 'muted', id: 'denies-dropped' }),
        h('span', { class: 'stream-state', id: 'stream-state', 'data-state': 'connecting' }, 'connecting')),
      h('div', { class: 'scroll' }, table({ id: 'denies' }, [['Time'], ['Reason'], ['Proto'],
        ['Source → destination'], ['Identity'], ['Rule'], ['Interface']])),
      h('p', { class: 'empty', id: 'denies-empty' }, 'No denied packets since this page opened.')));
}

/**
 * Packets and bytes summed over the status counters' reasons: deny_* were
 * dropped; allow_*, audit* and pass_* went through.  events_* count verdict
 * events the data plane could not send, not packets.
 */
function sumCounters(counters) {
  const sum = { allowed: { packets: 0, bytes: 0 }, denied: { packets: 0, bytes: 0 } };
  for (const [reason, c] of Object.entries(counters ?? {})) {
    if (reason.startsWith('events_')) continue;
    const side = reason.startsWith('deny_') ? sum.denied : sum.allowed;
    side.packets += c?.packets ?? 0;
    side.bytes += c?.bytes ?? 0;
  }
  return sum;
}

function renderRates(root, prev, cur) {
  const dt = (cur.at - prev.at) / 1000;
  for (const side of ['allowed', 'denied']) {
    const dp = cur[side].packets - prev[side].packets;
    const db = cur[side].bytes - prev[side].bytes;
    // counters only shrink when the data plane was recreated: skip a beat
    if (dt <= 0 || dp < 0 || db < 0) continue;
    fill(root.querySelector(`#${side}-pps`), rate(dp / dt), h('small', {}, ' pkt/s'));
    fill(root.querySelector(`#${side}-pps-sub`), bytesRate(db / dt));
  }
}

function renderStatus(root, s) {
  const ct = s.conntrack ?? {};
  fill(root.querySelector('#flows'), count(ct.entries));
  fill(root.querySelector('#flows-sub'), Number.isFinite(ct.capacity)
    ? `of ${count(ct.capacity)} conntrack entries` : '');
  fill(root.querySelector('#generation'), s.policy ? count(s.policy.generation) : '—');
  fill(root.querySelector('#generation-sub'), s.policy
    ? `version ${s.policy.version} · ${count(s.policy.rules)} rule${s.policy.rules === 1 ? "" : "s"}` : 'no policy in force');
}

function gatewayRow(g, self) {
  const place = [g.site, g.region].filter(Boolean).join(' · ');
  let policy = '—';
  if (Number.isFinite(g.policy_version)) {
    policy = h('span', {}, g.policy_version ? `v${g.policy_version} ` : 'none ',
      g.in_sync ? badge('in sync', 'ok') : badge('behind', 'warn'));
  }
  return h('tr', { 'data-gateway': g.name },
    h('td', {},
      h('span', { class: 'strong' }, g.name),
      g.name === self ? h('span', { class: 'tag' }, 'this gateway') : null,
      place ? h('div', { class: 'muted small' }, place) : null),
    h('td', {}, badge(g.state, g.state === 'up' ? 'ok' : 'bad')),
    h('td', { 'data-health': g.health ?? '' },
      badge(g.health, HEALTH[g.health] ?? 'neutral'),
      g.error ? h('div', { class: 'muted small' }, g.error) : null),
    h('td', {}, policy),
    h('td', { class: 'num' }, count(g.flows)),
    h('td', { class: 'num' }, rate(g.pps)));
}

function renderGateways(root, view) {
  fill(root.querySelector('#gateways tbody'), (view.gateways ?? []).map((g) => gatewayRow(g, view.self)));
  const meta = [view.store, Number.isFinite(view.policy_version) ? `fleet policy v${view.policy_version}` : null];
  fill(root.querySelector('#fleet-meta'), meta.filter(Boolean).join(' · '));
  // a fleet whose store is out of reach still lists what it last knew
  panelError(root.querySelector('#gateways-panel'),
    view.connected === false ? new Error(`store out of reach: ${view.error ?? 'no reason given'}`) : null);
}

function renderPolicy(root, p) {
  const facts = [['Version', count(p.version)], ['Generation', count(p.generation)],
    ['File', p.filename], ['Pushed', p.pushed_at]];
  fill(root.querySelector('#policy'),
    facts.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v || '—')]));
}

function denyRow(e) {
  const now = new Date();
  // ts_ns is the kernel's monotonic clock, not wall time: stamp arrival
  return h('tr', { class: 'deny-row' },
    h('td', { class: 'nowrap', title: now.toISOString() }, clock(now)),
    h('td', {}, badge(e.reason, 'bad')),
    h('td', {}, protoLabel(e.proto, e.dport)),
    h('td', { class: 'mono nowrap' }, endpoint(e.src, e.sport, e.proto), ' → ',
      endpoint(e.dst, e.dport, e.proto)),
    h('td', {}, e.identities ?? '—'),
    h('td', {}, e.rule ?? '—'),
    h('td', { class: 'mono' }, e.interface ?? '—'));
}

export function mountOverview(outlet) {
  const root = layout();
  outlet.append(root);
  const denies = root.querySelector('#denies tbody');
  const streamState = root.querySelector('#stream-state');
  let prev = null; // the last counters sample, for rates
  let policyKey = null; // version:generation the policy panel shows
  let dropped = 0;

  async function loadPolicy(summary, signal) {
    const panelEl = root.querySelector('#policy-panel');
    if (!summary) {
      fill(root.querySelector('#policy'));
      panelError(panelEl, new Error('No policy in force.'));
      return;
    }
    try {
      renderPolicy(root, await request('GET', '/v1/policy', undefined, { signal }));
      panelError(panelEl, null);
    } catch (e) {
      if (signal.aborted) return;
      policyKey = null; // try again on the next tick
      panelError(panelEl, e);
    }
  }

  async function tickStatus(signal) {
    try {
      const s = await request('GET', '/v1/status', undefined, { signal });
      const cur = { at: performance.now(), ...sumCounters(s.counters) };
      if (prev) renderRates(root, prev, cur);
      prev = cur;
      renderStatus(root, s);
      // /v1/policy carries the whole source: read it only when it changed
      const key = s.policy ? `${s.policy.version}:${s.policy.generation}` : 'none';
      if (key !== policyKey) {
        policyKey = key;
        loadPolicy(s.policy, signal);
      }
      root.querySelector('#now-error').hidden = true;
    } catch (e) {
      if (signal.aborted) return;
      const p = root.querySelector('#now-error');
      p.textContent = `Status: ${e.message}`;
      p.hidden = false;
    }
  }

  async function tickGateways(signal) {
    try {
      renderGateways(root, await request('GET', '/v1/gateways', undefined, { signal }));
    } catch (e) {
      if (!signal.aborted) panelError(root.querySelector('#gateways-panel'), e);
    }
  }

  function onEvent(name, data) {
    if (name !== 'verdict') return;
    let e;
    try {
      e = JSON.parse(data);
    } catch {
      return;
    }
    // every event is "verdict": backend_up/down and placement_move too
    if (typeof e?.reason !== 'string' || !e.reason.startsWith('deny')) return;
    denies.prepend(denyRow(e));
    while (denies.childElementCount > MAX_DENIES) denies.lastElementChild.remove();
    root.querySelector('#denies-empty').hidden = true;
  }

  function onComment(text) {
    const m = /^dropped (\d+) events?/.exec(text);
    if (!m) return;
    dropped += Number(m[1]);
    fill(root.querySelector('#denies-dropped'), `${count(dropped)} events missed (stream fell behind)`);
  }

  function onState(state, detail) {
    streamState.dataset.state = state;
    streamState.textContent = state;
    streamState.title = detail ?? '';
  }

  const disposers = [
    whileVisible(() => {
      prev = null; // a rate across the hidden time would not be "now"
      return poll(tickStatus, STATUS_EVERY_MS);
    }),
    whileVisible(() => poll(tickGateways, GATEWAYS_EVERY_MS)),
    whileVisible(() => {
      const close = openEventStream('/v1/events', { onEvent, onComment, onState });
      return () => {
        close();
        onState('paused', 'the page is hidden');
      };
    }),
  ];
  return () => disposers.forEach((d) => d());
}
