// SPDX-License-Identifier: Apache-2.0
// The Peers page: every WireGuard peer with its handshake and traffic;
// operators add peers and remove those the API added.

import { describe, request } from './api.js';
import { confirmAction } from './confirm.js';
import { badge, fill, h, refill } from './dom.js';
import { bytes, bytesRate } from './format.js';
import { fromUnix, localTime, secondsSince, span } from './human.js';
import { panel, panelError, syncRows, table } from './panel.js';
import { allows } from './session.js';
import { latest, poll, STALE, whileVisible } from './timing.js';

const EVERY_MS = 5000;
// WireGuard rekeys every 2 minutes: a handshake older than 3 is a peer gone
const STALE_S = 180;
const SOURCE = { config: ['configured', 'neutral'], api: ['API', 'ok'], fleet: ['fleet', 'warn'] };
// the API's error field → the form's input
const FIELDS = {
  name: 'peer-name', interface: 'peer-interface', public_key: 'peer-key',
  allowed_ips: 'peer-allowed-ips', endpoint: 'peer-endpoint',
  persistent_keepalive: 'peer-keepalive', identity: 'peer-identity',
};
const HEADS = [['Peer'], ['Interface'], ['Identity'], ['Allowed IPs'], ['Endpoint'],
  ['Handshake'], ['In', 'num'], ['Out', 'num'], ['Source'], ['', 'actions']];

function field(id, label, attrs = {}, hint = '') {
  const input = attrs.tag === 'select'
    ? h('select', { id, name: id })
    : h('input', { id, name: id, type: 'text', autocomplete: 'off', spellcheck: 'false', ...attrs });
  return h('div', { class: 'field' },
    h('label', { for: id }, label),
    input,
    hint ? h('span', { class: 'muted small' }, hint) : null);
}

function addForm() {
  return panel('Add a peer', { id: 'peer-add-panel' }, null,
    h('form', { id: 'peer-form', class: 'peer-form', novalidate: true, autocomplete: 'off' },
      h('div', { class: 'fields' },
        field('peer-name', 'Name', { placeholder: 'alice', required: true }),
        field('peer-interface', 'Interface', { tag: 'select' }),
        field('peer-key', 'Public key', { class: 'mono', placeholder: '44 characters of base64', required: true }),
        field('peer-allowed-ips', 'Allowed IPs', { class: 'mono', placeholder: '198.18.100.2/32', required: true },
          'comma-separated'),
        field('peer-endpoint', 'Endpoint', { class: 'mono', placeholder: '198.18.0.2:51820' }, 'optional'),
        field('peer-keepalive', 'Keepalive (s)', { inputmode: 'numeric', placeholder: '25' }, 'optional'),
        field('peer-identity', 'Identity', { placeholder: 'eng' }, 'optional: a policy identity')),
      h('p', { id: 'peer-error', class: 'form-error', role: 'alert', hidden: true }),
      h('div', { class: 'form-actions' },
        h('button', { id: 'peer-add', class: 'btn primary', type: 'submit' }, 'Add peer'),
        h('span', { id: 'peer-status', class: 'muted', role: 'status' }))));
}

function layout(operator) {
  return h('div', { class: 'fleet-page' },
    h('div', { class: 'page-head' }, h('h1', {}, 'Peers'), h('span', { class: 'muted', id: 'peers-meta' })),
    panel('WireGuard peers', { id: 'peers-panel' },
      h('span', { class: 'muted small', id: 'peers-note', role: 'status' }),
      h('div', { class: 'scroll-x' }, table({ id: 'peers' }, HEADS)),
      h('p', { class: 'empty', id: 'peers-empty', hidden: true })),
    operator ? addForm() : null);
}

function keyCell(p) {
  const key = String(p.public_key ?? '');
  return [h('span', { class: 'strong' }, p.name),
    h('div', { class: 'mono small muted', title: key }, `${key.slice(0, 10)}…`)];
}

function endpointCell(p) {
  const now = p.current_endpoint || '';
  const conf = p.endpoint || '';
  if (!now && !conf) return h('span', { class: 'muted' }, '—');
  // endpoints roam: where the peer is now, and what was configured if not that
  return [h('span', { class: 'mono nowrap' }, now || conf),
    now && conf && now !== conf ? h('div', { class: 'muted small mono' }, `set ${conf}`) : null,
    !now ? h('div', { class: 'muted small' }, 'configured') : null];
}

/** [state, content]: state is absent, never, fresh or stale. */
function handshake(p, nowMs) {
  if (!p.present) return ['absent', badge('not on interface', 'bad')];
  const at = fromUnix(p.latest_handshake);
  if (!at) return ['never', h('span', { class: 'muted' }, 'never')];
  const age = secondsSince(at, nowMs);
  const text = h('time', { datetime: at.toISOString(), title: `${localTime(at)} (${at.toISOString()})`, class: 'nowrap' },
    `${span(age)} ago`);
  return age > STALE_S ? ['stale', [text, ' ', badge('stale', 'warn')]] : ['fresh', text];
}


function traffic(total, perSec) {
  return [h('div', { class: 'nowrap' }, bytes(total)),
    h('div', { class: 'muted small nowrap' }, Number.isFinite(perSec) ? bytesRate(perSec) : '\u00a0')];
}

/**
 * The peer's counters now, and bytes per second since the last sample;
 * a sample under a second after the last (a refresh after a change)
 * keeps the last rates rather than measure noise.
 */
function sample(samples, p, t) {
  if (!Number.isFinite(p.rx_bytes) || !Number.isFinite(p.tx_bytes)) {
    samples.delete(p.name);
    return { rxRate: NaN, txRate: NaN };
  }
  const was = samples.get(p.name);
  if (was && t - was.at < 1000) return was;
  const cur = { at: t, rx: p.rx_bytes, tx: p.tx_bytes, rxRate: NaN, txRate: NaN };
  if (was) {
    const dt = (t - was.at) / 1000;
    // counters go back to 0 when a peer is removed and added again
    if (cur.rx >= was.rx) cur.rxRate = (cur.rx - was.rx) / dt;
    if (cur.tx >= was.tx) cur.txRate = (cur.tx - was.tx) / dt;
  }
  samples.set(p.name, cur);
  return cur;
}

function removeButton(name) {
  return h('button', { class: 'btn small peer-remove', type: 'button', 'data-peer': name,
    'aria-label': `Remove peer ${name}` }, 'Remove');
}

/**
 * Refreshes a row's cells in place, each only if what it shows changed
 * (a text selection in it survives a poll); the remove button is kept.
 */
function updateRow(tr, { p, rate, removable, nowMs }) {
  const c = tr.children;
  const [state, hs] = handshake(p, nowMs);
  const [source, kind] = SOURCE[p.source] ?? [String(p.source ?? '?'), 'neutral'];
  const ips = Array.isArray(p.allowed_ips) ? p.allowed_ips : [];
  refill(c[0], keyCell(p));
  refill(c[1], h('span', { class: 'mono' }, p.interface));
  refill(c[2], p.identity ? h('span', { class: 'tag tag-plain' }, p.identity) : h('span', { class: 'muted' }, '—'));
  refill(c[3], ips.map((ip) => h('div', { class: 'mono nowrap' }, ip)));
  refill(c[4], endpointCell(p));
  if (c[5].dataset.handshake !== state) c[5].dataset.handshake = state;
  refill(c[5], hs);
  refill(c[6], p.present ? traffic(p.rx_bytes, rate.rxRate) : '—');
  refill(c[7], p.present ? traffic(p.tx_bytes, rate.txRate) : '—');
  refill(c[8], badge(source, kind));
  if (tr.dataset.removable !== String(removable)) {
    tr.dataset.removable = String(removable);
    fill(c[9], removable ? removeButton(p.name) : null);
  }
}

function makeRow() {
  return h('tr', {}, HEADS.map(([, cls]) => h('td', { class: cls })));
}

/** The form's fields as POST /v1/peers wants them; optional ones only when given. */
function readForm(form) {
  const v = (id) => form.querySelector(`#${id}`).value.trim();
  const body = {
    interface: v('peer-interface'),
    name: v('peer-name'),
    public_key: v('peer-key'),
    allowed_ips: v('peer-allowed-ips').split(/[\s,]+/).filter(Boolean),
  };
  if (v('peer-endpoint')) body.endpoint = v('peer-endpoint');
  // not a number: sent as typed, so the gateway's message names the field
  const ka = v('peer-keepalive');
  if (ka) body.persistent_keepalive = /^\d+$/.test(ka) ? Number(ka) : ka;
  if (v('peer-identity')) body.identity = v('peer-identity');
  return body;
}

/** The Peers page; returns its unmount. */
export function mountPeers(outlet) {
  const operator = allows('operator');
  const root = layout(operator);
  outlet.append(root);
  const life = new AbortController();
  const peersPanel = root.querySelector('#peers-panel');
  const tbody = root.querySelector('#peers tbody');
  const form = root.querySelector('#peer-form');
  const samples = new Map(); // name → the last counters, for rates
  let rates = new Map(); // name → the rates from the last /v1/peers answer
  const statusIfaces = new Set(); // /v1/status's WireGuard interfaces
  let hasWireguard = null; // what /v1/status says; null: not known
  const newest = latest(); // an older answer is dropped
  let peers = null; // null until the first answer

  function note(text) {
    fill(root.querySelector('#peers-note'), text);
  }

  function renderInterfaces() {
    if (!form) return;
    const select = form.querySelector('#peer-interface');
    const names = [...new Set([...statusIfaces, ...(peers ?? []).map((p) => p.interface)])]
      .filter((n) => typeof n === 'string' && n).sort();
    const now = [...select.options].map((o) => o.value);
    if (names.length && names.join('\n') === now.join('\n')) return;
    const keep = select.value;
    fill(select, names.length ? names.map((n) => h('option', { value: n }, n))
      : h('option', { value: '', disabled: true }, 'no WireGuard interface'));
    if (names.includes(keep)) select.value = keep;
    select.disabled = !names.length;
    form.querySelector('#peer-add').disabled = !names.length;
  }

  // Rates are measured when an answer arrives, not when the table is
  // drawn: a redraw (the interfaces arriving) must not sample the same
  // counters again at a later time.
  function measure(t) {
    rates = new Map(peers.map((p) => [p.name, sample(samples, p, t)]));
  }

  function render(nowMs = Date.now()) {
    const items = peers.map((p) => ({
      p, nowMs, rate: rates.get(p.name) ?? { rxRate: NaN, txRate: NaN },
      removable: operator && p.source === 'api',
    }));
    syncRows(tbody, items, { attr: 'data-peer', key: (it) => it.p.name, make: makeRow, update: updateRow });
    const fresh = items.filter((it) => handshake(it.p, nowMs)[0] === 'fresh').length;
    refill(root.querySelector('#peers-meta'), peers.length
      ? `${peers.length} peer${peers.length === 1 ? '' : 's'} · ${fresh} with a handshake in the last 3 min` : '');
    const empty = root.querySelector('#peers-empty');
    empty.hidden = peers.length > 0;
    refill(empty, hasWireguard === false ? 'This gateway has no WireGuard interface.'
      : `No WireGuard peers.${operator ? ' Add one below.' : ''}`);
    renderInterfaces();
  }

  async function load(signal) {
    try {
      const r = await newest(() => request('GET', '/v1/peers', undefined, { signal }));
      if (r === STALE) return;
      peers = Array.isArray(r?.peers) ? r.peers : [];
      measure(performance.now());
      render();
      panelError(peersPanel, null);
    } catch (e) {
      if (!signal.aborted) panelError(peersPanel, e);
    }
  }

  // once: the interfaces a peer may be added to, peers or not
  async function loadInterfaces() {
    try {
      const s = await request('GET', '/v1/status', undefined, { signal: life.signal });
      hasWireguard = Boolean(s?.wireguard);
      for (const i of s?.wireguard?.interfaces ?? []) statusIfaces.add(i?.name);
      if (peers) render();
      else renderInterfaces();
    } catch {
      // the peers' own interfaces still fill the list
    }
  }

  async function remove(name) {
    const p = peers?.find((x) => x.name === name);
    const yes = await confirmAction({
      title: `Remove peer ${name}?`,
      body: `${name} leaves ${p?.interface ?? 'its interface'} now: its tunnel closes and its open flows are cut. `
        + 'It was added through the API, so it will not come back on a restart.',
      ok: 'Remove peer',
      danger: true,
      signal: life.signal,
    });
    if (!yes || life.signal.aborted) return;
    try {
      await request('DELETE', `/v1/peers/${encodeURIComponent(name)}`, undefined, { signal: life.signal });
      note(`Removed ${name}.`);
      panelError(peersPanel, null);
      load(life.signal);
    } catch (e) {
      if (!life.signal.aborted) panelError(peersPanel, new Error(describe(e, `remove ${name}`)));
    }
  }

  tbody.addEventListener('click', (ev) => {
    const b = ev.target.closest('button.peer-remove');
    if (b) remove(b.dataset.peer);
  });

  function formError(e) {
    const err = form.querySelector('#peer-error');
    err.textContent = describe(e, 'add the peer');
    err.hidden = false;
    const input = e.field && form.querySelector(`#${FIELDS[e.field]}`);
    if (FIELDS[e.field] && input) {
      input.setAttribute('aria-invalid', 'true');
      input.setAttribute('aria-describedby', 'peer-error');
      input.focus();
    }
  }

  function clearFormError() {
    form.querySelector('#peer-error').hidden = true;
    for (const el of form.querySelectorAll('[aria-invalid]')) {
      el.removeAttribute('aria-invalid');
      el.removeAttribute('aria-describedby');
    }
  }

  form?.addEventListener('input', (ev) => {
    ev.target.removeAttribute?.('aria-invalid'); // being fixed
  });

  form?.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFormError();
    fill(form.querySelector('#peer-status'));
    const body = readForm(form);
    const button = form.querySelector('#peer-add');
    button.disabled = true;
    try {
      const added = await request('POST', '/v1/peers', body, { signal: life.signal });
      const iface = body.interface;
      form.reset();
      form.querySelector('#peer-interface').value = iface; // adding several to one
      fill(form.querySelector('#peer-status'), `Added ${added?.name ?? body.name}.`);
      load(life.signal);
    } catch (e) {
      if (!life.signal.aborted) formError(e);
    } finally {
      button.disabled = false;
    }
  });

  if (operator) loadInterfaces();
  const stop = whileVisible(() => {
    samples.clear(); // a rate across the hidden time would not be "now"
    return poll(load, EVERY_MS);
  });
  return () => {
    life.abort();
    stop();
  };
}
