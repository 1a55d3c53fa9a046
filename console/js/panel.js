// SPDX-License-Identifier: Apache-2.0
// Panels, tables and keyed rows shared by the peers, services and audit
// pages.

import { h } from './dom.js';

/** A card with a head (title, then meta at the right), an error line, a body. */
export function panel(title, attrs, meta, ...body) {
  return h('section', { class: 'card panel', ...attrs },
    h('header', { class: 'panel-head' }, h('h2', {}, title), meta),
    h('p', { class: 'panel-error', role: 'status', hidden: true }),
    ...body);
}

/** Shows (or, with no error, hides) a panel's error line. */
export function panelError(panelEl, err) {
  const p = panelEl.querySelector('.panel-error');
  p.hidden = !err;
  p.textContent = err ? err.message : '';
}

/** heads: [[text, class?], ...]; the tbody is the caller's to fill. */
export function table(attrs, heads) {
  return h('table', { class: 'table', ...attrs },
    h('thead', {}, h('tr', {}, heads.map(([t, cls]) => h('th', { class: cls, scope: 'col' }, t)))),
    h('tbody'));
}

/**
 * Puts one row per item into tbody, in the items' order, keeping the row
 * already there for a key (the attribute `attr` holds it): a focused
 * button or a selection survives a poll.  make(item) builds a new row,
 * update(tr, item) refreshes any row.  Returns the rows made now.
 */
export function syncRows(tbody, items, { attr, key, make, update }) {
  const keys = items.map((it) => String(key(it)));
  const want = new Set(keys);
  const have = new Map();
  for (const tr of [...tbody.children]) {
    const k = tr.getAttribute(attr);
    if (want.has(k) && !have.has(k)) have.set(k, tr);
    else tr.remove(); // gone, or a duplicate
  }
  const made = [];
  items.forEach((item, i) => {
    let tr = have.get(keys[i]);
    if (!tr) {
      tr = make(item);
      tr.setAttribute(attr, keys[i]);
      have.set(keys[i], tr);
      made.push(tr);
    }
    update?.(tr, item);
    // move only what is out of place: moving a row blurs its button
    if (tbody.children[i] !== tr) tbody.insertBefore(tr, tbody.children[i] ?? null);
  });
  return made;
}
