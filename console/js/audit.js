// SPDX-License-Identifier: Apache-2.0
// The Audit log page: every change, who made it and from where, newest
// first; new entries appear at the top as they are written.

import { request } from './api.js';
import { badge, h, refill } from './dom.js';
import { count } from './format.js';
import { fromIso, timeCell } from './human.js';
import { panel, panelError, syncRows, table } from './panel.js';
import { latest, poll, STALE, whileVisible } from './timing.js';

const EVERY_MS = 10000;
const LIMITS = [100, 250, 500, 1000]; // 1000: the most GET /v1/audit gives

function layout() {
  return h('div', { class: 'fleet-page' },
    h('div', { class: 'page-head' },
      h('h1', {}, 'Audit log'),
      h('span', { class: 'muted' }, 'newest first, checked every 10 s'),
      h('input', { id: 'audit-filter', class: 'filter', type: 'search', placeholder: 'Filter entries',
        'aria-label': 'Filter the audit log', autocomplete: 'off', spellcheck: 'false' })),
    panel('Changes', { id: 'audit-panel' }, h('span', { class: 'muted small', id: 'audit-count' }),
      h('div', { class: 'scroll-x' }, table({ id: 'audit' },
        [['Time'], ['Who'], ['From'], ['Action'], ['Target'], ['Detail']])),
      h('p', { class: 'empty', id: 'audit-empty', hidden: true }),
      h('div', { class: 'panel-foot' },
        h('button', { id: 'audit-more', class: 'btn', type: 'button' }, 'Load more'),
        h('span', { class: 'muted small', id: 'audit-window' }))));
}

/** Refusals and failures stand out; removals are worth a second look. */
function actionKind(action) {
  const a = String(action ?? '');
  if (a.endsWith('.refused') || a === 'backend down') return 'bad';
  if (a === 'backend up') return 'ok';
  if (/remove|revoke|rollback/.test(a)) return 'warn';
  return 'neutral';
}

function dash(v) {
  return v && v !== '-' ? v : h('span', { class: 'muted' }, '—');
}

function when(e, now) {
  const at = fromIso(e.at);
  return at ? timeCell(at, now) : dash(e.at);
}

function makeRow(e) {
  return h('tr', {},
    h('td', { class: 'audit-time' }),
    h('td', { class: 'nowrap' }, dash(e.who)),
    h('td', { class: 'mono' }, dash(e.peer)),
    h('td', {}, badge(e.action, actionKind(e.action))),
    h('td', { class: 'audit-target' }, dash(e.target)),
    h('td', { class: 'mono audit-detail' }, e.detail || ''));
}

/** The Audit log page (operators); returns its unmount. */
export function mountAudit(outlet) {
  const root = layout();
  outlet.append(root);
  const auditPanel = root.querySelector('#audit-panel');
  const tbody = root.querySelector('#audit tbody');
  const filter = root.querySelector('#audit-filter');
  const more = root.querySelector('#audit-more');
  const life = new AbortController();
  let limit = LIMITS[0]; // what the next request asks for
  let shownLimit = limit; // what the rows shown were asked for
  let topId = null; // the highest id shown: above it is new
  let total = 0;
  let complete = false; // the answer held fewer than asked: all there is
  let refused = false; // a 403: asking again will not help
  const newest = latest(); // a poll overtaken by "Load more" is dropped

  function applyFilter() {
    const q = filter.value.trim().toLowerCase();
    let visible = 0;
    for (const tr of tbody.children) {
      tr.hidden = Boolean(q) && !tr.textContent.toLowerCase().includes(q);
      if (!tr.hidden) visible++;
    }
    refill(root.querySelector('#audit-count'), q ? `${count(visible)} of ${count(total)} match`
      : `${count(total)} entr${total === 1 ? 'y' : 'ies'}`);
    const empty = root.querySelector('#audit-empty');
    empty.hidden = visible > 0 || refused;
    refill(empty, total ? `No entry matches “${q}”.` : 'The audit log is empty.');
  }

  function renderWindow() {
    const max = shownLimit >= LIMITS[LIMITS.length - 1];
    more.hidden = complete || max;
    refill(root.querySelector('#audit-window'), complete ? 'the whole log'
      : `the newest ${count(shownLimit)}${max ? ', the most the gateway sends at once' : ''}`);
  }

  function render(entries, asked) {
    const now = new Date();
    // the last round's new rows have been seen
    for (const tr of tbody.querySelectorAll('tr.is-new')) tr.classList.remove('is-new');
    const made = syncRows(tbody, entries, {
      attr: 'data-audit-id',
      key: (e) => e.id,
      make: makeRow,
      update: (tr, e) => refill(tr.firstElementChild, when(e, now)), // the age moves on
    });
    if (topId !== null) {
      for (const tr of made) {
        if (Number(tr.dataset.auditId) > topId) tr.classList.add('is-new');
      }
    }
    for (const e of entries) if (Number.isFinite(e.id) && (topId === null || e.id > topId)) topId = e.id;
    topId ??= 0; // an empty log: whatever comes next is new
    total = entries.length;
    // judged by what this answer was asked for: "Load more" may have
    // raised the limit since
    shownLimit = asked;
    complete = entries.length < asked;
    renderWindow();
    applyFilter();
  }

  async function load(signal) {
    if (refused) return;
    const asked = limit;
    try {
      const r = await newest(() => request('GET', `/v1/audit?limit=${asked}`, undefined, { signal }));
      if (r === STALE) return;
      render(Array.isArray(r?.entries) ? r.entries : [], asked);
      panelError(auditPanel, null);
    } catch (e) {
      if (signal.aborted) return;
      if (e.status === 403) {
        refused = true;
        more.hidden = true;
        panelError(auditPanel, new Error(`The audit log is for operators: ${e.message}`));
        return;
      }
      panelError(auditPanel, e);
    }
  }

  more.addEventListener('click', async () => {
    limit = LIMITS.find((n) => n > limit) ?? limit;
    more.disabled = true;
    await load(life.signal);
    more.disabled = false;
  });
  filter.addEventListener('input', applyFilter);

  const stop = whileVisible(() => poll(load, EVERY_MS));
  return () => {
    life.abort();
    stop();
  };
}
