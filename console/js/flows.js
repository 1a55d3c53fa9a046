// SPDX-License-Identifier: Apache-2.0
// The Flows page: conntrack, live, filtered by the gateway (identity,
// service, verdict, protocol, TCP state, host), sorted here, and shown in
// a virtualized list so that 10,000 flows cost a few dozen rows of DOM.

import { request } from './api.js';
import { fill, h } from './dom.js';
import { clock, count } from './format.js';
import { COLUMNS, createRow, flowKey, sortFlows, updateRow } from './flowrows.js';
import { poll, whileVisible } from './timing.js';
import { createVirtualList } from './vlist.js';

const EVERY_MS = 2000;
const TYPING_MS = 300;
const ROW_HEIGHT = 34; // px, unless flows.css's --flow-row-h says otherwise
const TEXT_FILTERS = ['identity', 'service', 'host'];
const SELECTS = {
  // a denied packet makes no flow (the overview's live denies show them);
  // audit mode's would-be denies are flows with the verdict audit
  verdict: ['allow', 'audit'],
  proto: ['tcp', 'udp', 'icmp', 'icmpv6'],
  state: ['none', 'syn_sent', 'established', 'closing', 'closed'],
};
const LIMITS = ['100', '1000', '10000'];
const DEFAULT_LIMIT = '1000';

/** The filters in `params` (the hash's query) that this page knows. */
function filtersFrom(params) {
  const f = { limit: DEFAULT_LIMIT };
  for (const k of TEXT_FILTERS) f[k] = (params.get(k) ?? '').trim();
  for (const [k, options] of Object.entries(SELECTS)) f[k] = options.includes(params.get(k)) ? params.get(k) : '';
  if (LIMITS.includes(params.get('limit'))) f.limit = params.get('limit');
  return f;
}

/** The query for both the API and the hash: set filters only. */
function queryOf(f, withDefaults) {
  const q = new URLSearchParams();
  for (const k of [...TEXT_FILTERS, ...Object.keys(SELECTS)]) if (f[k]) q.set(k, f[k]);
  if (withDefaults || f.limit !== DEFAULT_LIMIT) q.set('limit', f.limit);
  return q.toString();
}

const filtering = (f) => [...TEXT_FILTERS, ...Object.keys(SELECTS)].some((k) => f[k]);

/**
 * An IPv4 or IPv6 address, as far as a browser can tell (the gateway
 * decides): half-typed ones are not sent, so typing does not flash errors.
 */
function looksLikeAddress(s) {
  if (/^(\d{1,3})(\.\d{1,3}){3}$/.test(s)) return s.split('.').every((o) => Number(o) <= 255);
  if (!/^[0-9a-f:.]+$/i.test(s) || !s.includes(':')) return false;
  try {
    return new URL(`http://[${s}]/`).hostname.length > 2;
  } catch {
    return false;
  }
}

/** Child names of a top-level key in a policy's YAML (block style only). */
function namesUnder(source, key) {
  const names = [];
  let inside = false;
  let indent = -1;
  for (const line of String(source).split(/\r?\n/)) {
    if (/^\s*(#|$)/.test(line)) continue;
    const lead = line.length - line.trimStart().length;
    const m = /^\s*["']?([A-Za-z0-9_.-]+)["']?\s*:/.exec(line);
    if (lead === 0) {
      inside = m?.[1] === key;
      indent = -1;
    } else if (inside && m) {
      if (indent < 0) indent = lead;
      if (lead === indent && names.length < 1000) names.push(m[1]);
    }
  }
  return names;
}

function field(label, control) {
  return h('label', { class: 'flows-field' }, h('span', { class: 'flows-label' }, label), control);
}

function select(id, options, any = 'any') {
  return h('select', { id },
    any === null ? null : h('option', { value: '' }, any),
    options.map((o) => h('option', { value: o }, o.replace('_', ' '))));
}

function filterBar() {
  const text = (id, placeholder, list) => h('input', {
    id, type: 'search', placeholder, list, autocomplete: 'off', spellcheck: 'false',
  });
  return h('form', { id: 'flows-filter', class: 'card flows-filter', role: 'search', 'aria-label': 'Filter the flows' },
    field('Identity', text('flows-identity', 'any', 'flows-identities')),
    field('Service', text('flows-service', 'any', 'flows-services')),
    field('Host', text('flows-host', 'any address')),
    field('Verdict', select('flows-verdict', SELECTS.verdict)),
    field('Protocol', select('flows-proto', SELECTS.proto)),
    field('TCP state', select('flows-state', SELECTS.state)),
    field('Show', h('select', { id: 'flows-limit' },
      LIMITS.map((l) => h('option', { value: l }, `${count(Number(l))} at most`)))),
    h('button', { id: 'flows-clear', class: 'btn ghost', type: 'button' }, 'Clear'),
    h('datalist', { id: 'flows-identities' }),
    h('datalist', { id: 'flows-services' }));
}

function head(sort) {
  return h('div', { class: 'flows-head', role: 'rowgroup' },
    h('div', { class: 'flow-row flows-head-row', role: 'row', 'aria-rowindex': '1' },
      COLUMNS.map((c) => h('div', {
        class: `flow-cell c-${c.id}${c.num ? ' num' : ''}`,
        role: 'columnheader',
        'aria-sort': c.id === sort.column ? (sort.ascending ? 'ascending' : 'descending') : 'none',
      }, h('button', { class: 'flows-sort', type: 'button', 'data-sort': c.id }, c.label)))));
}

function layout(sort) {
  return h('div', { class: 'flows-page' },
    h('div', { class: 'page-head flows-top' },
      h('h1', {}, 'Flows'),
      h('span', { class: 'muted', id: 'flows-count' }, 'loading…'),
      h('span', { class: 'flows-actions' },
        h('span', { class: 'stream-state', id: 'flows-state', 'data-state': 'connecting' }, 'connecting'),
        h('button', { id: 'flows-pause', class: 'btn', type: 'button', 'data-paused': 'false', 'aria-pressed': 'false' }, 'Pause'))),
    filterBar(),
    h('section', { class: 'card panel flows-panel' },
      h('p', { class: 'panel-error', id: 'flows-error', role: 'status', hidden: true }),
      h('div', { id: 'flows-list', class: 'flows-list', role: 'table', 'aria-label': 'Flows', 'aria-rowcount': '1', tabindex: '0' },
        head(sort),
        h('div', { class: 'flows-body', role: 'rowgroup' })),
      h('p', { class: 'empty', id: 'flows-empty', hidden: true })));
}

/**
 * Mounts the page in outlet; params (URLSearchParams from the hash, e.g.
 * #/flows?verdict=deny) preset the filters.  Returns unmount().
 */
export function mountFlows(outlet, params) {
  const sort = { column: 'age', ascending: true }; // newest first
  const root = layout(sort);
  outlet.append(root);
  const $ = (sel) => root.querySelector(sel);
  const listEl = $('#flows-list');
  const list = createVirtualList({
    viewport: listEl,
    body: $('.flows-body'),
    // the narrow layouts have two-line rows
    rowHeight: () => parseFloat(getComputedStyle(listEl).getPropertyValue('--flow-row-h')) || ROW_HEIGHT,
    key: (f) => f.key,
    create: createRow,
    update: updateRow,
  });

  let filters = filtersFrom(params ?? new URLSearchParams(location.hash.split('?')[1] ?? ''));
  let flows = []; // the last answer's, sorted
  let paused = false;
  let fresh = true; // the next answer is for new filters: start at the top
  let updated = null; // when the shown flows were read
  let typing = 0;
  let hostError = false; // the error line shows the host's, not the gateway's
  let stopPoll = null;
  const policyCtl = new AbortController();

  for (const [k, v] of Object.entries(filters)) $(`#flows-${k}`).value = v;

  function setState(state, title = '') {
    const s = $('#flows-state');
    s.dataset.state = state;
    s.textContent = state;
    s.title = title;
  }

  function showError(err) {
    const p = $('#flows-error');
    p.hidden = !err;
    p.textContent = err ?? '';
    listEl.dataset.stale = String(Boolean(err) && Boolean(updated));
  }

  function markInvalid(name) {
    for (const el of root.querySelectorAll('#flows-filter [aria-invalid]')) el.removeAttribute('aria-invalid');
    if (name) $(`#flows-${name}`)?.setAttribute('aria-invalid', 'true');
  }

  function showCount(matched, shown) {
    const c = $('#flows-count');
    c.dataset.matched = String(matched);
    c.dataset.shown = String(shown);
    const text = `showing ${count(shown)} of ${count(matched)} matching flows`;
    if (c.firstChild?.data === text && c.childElementCount === Number(matched > shown)) return;
    fill(c, text,
      matched > shown ? h('span', { class: 'flows-limit-hint', id: 'flows-limit-hint' },
        ' · limit reached: narrow the filters or show more') : null);
  }

  function showFlows() {
    // a short list makes a short box; a long one fills the window
    listEl.style.setProperty('--flow-rows', String(flows.length));
    if (fresh) list.scrollToTop();
    list.setItems(flows, { anchor: !fresh });
    fresh = false;
    listEl.setAttribute('aria-rowcount', String(flows.length + 1));
    const empty = $('#flows-empty');
    empty.hidden = flows.length > 0;
    empty.textContent = filtering(filters) ? 'No flow matches these filters.' : 'No flows.';
  }

  async function tick(signal) {
    if (paused && !fresh) return; // frozen: nothing to ask for
    try {
      const j = await request('GET', `/v1/flows?${queryOf(filters, true)}`, undefined, { signal });
      if (signal.aborted) return; // paused, or new filters, meanwhile
      flows = Array.isArray(j?.flows) ? j.flows : [];
      for (const f of flows) f.key = flowKey(f);
      sortFlows(flows, sort.column, sort.ascending);
      showFlows();
      updated = new Date();
      showCount(j?.matched ?? flows.length, j?.shown ?? flows.length);
      if (!hostError) {
        showError(null);
        markInvalid(null);
      }
      setState(paused ? 'paused' : 'live', `updated ${clock(updated)}`);
    } catch (e) {
      if (signal.aborted) return;
      let msg = `Could not read the flows: ${e.message}`;
      if (e.status === 403) msg = 'This token may not read the flows.';
      if (e.status === 400) {
        msg = e.message; // a filter the gateway refuses: it says which
        markInvalid(e.field);
      }
      // what was shown stays: stale beats blank
      showError(updated ? `${msg} (the list is from ${clock(updated)})` : msg);
      setState('stale', msg);
    }
  }

  /** Asks again now (new filters, Resume), dropping any answer in flight. */
  function refetch() {
    if (!stopPoll) return; // hidden: whileVisible asks when it shows
    stopPoll();
    stopPoll = poll(tick, EVERY_MS);
  }

  function apply() {
    clearTimeout(typing);
    const next = {};
    for (const k of Object.keys(filters)) next[k] = $(`#flows-${k}`).value.trim();
    const badHost = Boolean(next.host) && !looksLikeAddress(next.host);
    markInvalid(badHost ? 'host' : null);
    if (badHost) {
      hostError = true;
      showError('Host: type a whole IPv4 or IPv6 address.');
      return;
    }
    if (hostError) showError(null); // the next answer says if all is well
    hostError = false;
    if (queryOf(next) === queryOf(filters)) return;
    filters = next;
    const q = queryOf(filters);
    history.replaceState(history.state, '', `#/flows${q ? `?${q}` : ''}`);
    fresh = true;
    refetch();
  }

  function setPaused(p) {
    paused = p;
    const b = $('#flows-pause');
    b.dataset.paused = String(p);
    b.setAttribute('aria-pressed', String(p));
    b.textContent = p ? 'Resume' : 'Pause';
    if (p) setState('paused', updated ? `frozen at ${clock(updated)}` : '');
    // pausing drops an answer in flight too: the list must not change
    // after it says "paused"; resuming asks at once
    refetch();
  }

  function sortBy(column) {
    if (sort.column === column) sort.ascending = !sort.ascending;
    else {
      // names A to Z; counts biggest first; times newest (smallest) first
      const num = COLUMNS.find((c) => c.id === column)?.num;
      Object.assign(sort, { column, ascending: !num || column === 'age' || column === 'idle' });
    }
    for (const th of root.querySelectorAll('[role="columnheader"]')) {
      const on = th.querySelector('button').dataset.sort === column;
      th.setAttribute('aria-sort', on ? (sort.ascending ? 'ascending' : 'descending') : 'none');
    }
    sortFlows(flows, sort.column, sort.ascending);
    fresh = true; // a new order: start from its top
    showFlows();
  }

  const form = $('#flows-filter');
  form.addEventListener('submit', (ev) => {
    ev.preventDefault(); // form-action 'none': nothing is ever sent
    apply();
  });
  form.addEventListener('input', (ev) => {
    if (ev.target.tagName !== 'INPUT') return;
    clearTimeout(typing);
    typing = setTimeout(apply, TYPING_MS);
  });
  form.addEventListener('change', (ev) => {
    if (ev.target.tagName === 'SELECT') apply();
  });
  $('#flows-clear').addEventListener('click', () => {
    form.reset();
    $('#flows-limit').value = filters.limit; // the limit is not a filter
    apply();
  });
  $('#flows-pause').addEventListener('click', () => setPaused(!paused));
  $('.flows-head').addEventListener('click', (ev) => {
    const b = ev.target.closest('button[data-sort]');
    if (b) sortBy(b.dataset.sort);
  });

  // names for the datalists: a nicety, so a failure says nothing
  request('GET', '/v1/policy', undefined, { signal: policyCtl.signal }).then((p) => {
    const opts = (names) => names.map((n) => h('option', { value: n }));
    fill($('#flows-identities'), opts(namesUnder(p?.source ?? '', 'identities')));
    fill($('#flows-services'), opts(namesUnder(p?.source ?? '', 'services')));
  }).catch(() => {});

  const dispose = whileVisible(() => {
    stopPoll = poll(tick, EVERY_MS);
    return () => {
      stopPoll?.();
      stopPoll = null;
    };
  });
  return () => {
    dispose();
    clearTimeout(typing);
    policyCtl.abort();
    list.destroy();
  };
}
