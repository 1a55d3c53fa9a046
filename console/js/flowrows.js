// SPDX-License-Identifier: Apache-2.0
// The Flows page's columns: how a flow reads in each, how it sorts, and
// its row element (built once, then updated in place as it is reused).

import { h } from './dom.js';
import { bytes, compact, count, endpoint } from './format.js';
import { duration } from './human.js';

const VERDICT_KIND = { allow: 'ok', audit: 'warn', deny: 'bad', 'default-deny': 'bad' };
// sorting by verdict puts like with like, mildest first
const VERDICT_RANK = { allow: 0, audit: 1, deny: 2, 'default-deny': 3 };

/** A flow's identity across refreshes: its five-tuple. */
export function flowKey(f) {
  return `${f.src}|${f.sport}|${f.dst}|${f.dport}|${f.proto}`;
}

const pair = (a) => (Array.isArray(a) ? a : []);
const sum = (a) => (pair(a)[0] ?? 0) + (pair(a)[1] ?? 0);
const orDash = (s) => (s === null || s === undefined || s === '-' || s === '' ? '—' : String(s));

function both(a, fmt) {
  const [o, r] = pair(a);
  return `${fmt(o)} / ${fmt(r)}`;
}

function exact(a, unit) {
  const [o, r] = pair(a);
  return `${count(o ?? 0)} ${unit} out, ${count(r ?? 0)} back`;
}

function protoState(f) {
  return f.state && f.state !== '-' ? `${f.proto} · ${f.state.replace('_', ' ')}` : String(f.proto ?? '?');
}

function ends(f) {
  return `${endpoint(f.src, f.sport, f.proto)} → ${endpoint(f.dst, f.dport, f.proto)}`;
}

/**
 * id (also the cell's class, c-ID, which the narrow layout hides by),
 * label, text(f), title(f) for a cell that may be cut short, and sort:
 * a value (number or string) that orders the column.
 */
export const COLUMNS = [
  { id: 'verdict', label: 'Verdict', sort: (f) => VERDICT_RANK[f.verdict] ?? 9 },
  { id: 'proto', label: 'Proto / state', text: protoState, sort: protoState },
  { id: 'ends', label: 'Source → destination', text: ends, title: ends, sort: (f) => `${f.src}|${f.dst}` },
  { id: 'ids', label: 'Identities', text: (f) => orDash(f.identities), title: (f) => orDash(f.identities), sort: (f) => f.identities ?? '' },
  { id: 'svc', label: 'Services', text: (f) => orDash(f.services), title: (f) => orDash(f.services), sort: (f) => f.services ?? '' },
  { id: 'rule', label: 'Rule', text: (f) => orDash(f.rule), title: (f) => orDash(f.rule), sort: (f) => f.rule ?? '\uffff' },
  { id: 'pkts', label: 'Packets', num: true, text: (f) => both(f.packets, compact), title: (f) => exact(f.packets, 'packets'), sort: (f) => sum(f.packets) },
  { id: 'bytes', label: 'Bytes', num: true, text: (f) => both(f.bytes, bytes), title: (f) => exact(f.bytes, 'bytes'), sort: (f) => sum(f.bytes) },
  { id: 'age', label: 'Age', num: true, text: (f) => duration(f.age_s), sort: (f) => f.age_s ?? Infinity },
  { id: 'idle', label: 'Idle', num: true, text: (f) => duration(f.idle_s), sort: (f) => f.idle_s ?? Infinity },
];

/**
 * Sorts flows in place by a column, ascending or not; ties go by key so
 * that equal rows keep their order from one refresh to the next.
 */
export function sortFlows(flows, columnId, ascending) {
  const col = COLUMNS.find((c) => c.id === columnId) ?? COLUMNS[0];
  const dir = ascending ? 1 : -1;
  // the column's value once per flow, not once per comparison
  const keyed = flows.map((f) => ({ f, v: col.sort(f) }));
  keyed.sort((a, b) => {
    if (a.v < b.v) return -dir;
    if (a.v > b.v) return dir;
    return a.f.key < b.f.key ? -1 : a.f.key > b.f.key ? 1 : 0;
  });
  for (let i = 0; i < flows.length; i++) flows[i] = keyed[i].f;
  return flows;
}

/** An empty row: role="row", one role="cell" per column. */
export function createRow() {
  return h('div', { class: 'flow-row', role: 'row' },
    COLUMNS.map((c) => h('div', { class: `flow-cell c-${c.id}${c.num ? ' num' : ''}`, role: 'cell' },
      c.id === 'verdict' ? h('span', { class: 'badge' }) : null)));
}

// writes only what changed: most of a live row's cells stay the same
function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

function setAttr(el, name, value) {
  if (el.getAttribute(name) !== value) el.setAttribute(name, value);
}

/** Shows flow f in row el (made by createRow). */
export function updateRow(el, f) {
  setAttr(el, 'data-key', f.key);
  setAttr(el, 'data-src', String(f.src));
  setAttr(el, 'data-dst', String(f.dst));
  setAttr(el, 'data-verdict', String(f.verdict));
  const cells = el.children;
  const b = cells[0].firstChild;
  setText(b, String(f.verdict ?? '—'));
  setAttr(b, 'class', `badge badge-${VERDICT_KIND[f.verdict] ?? 'neutral'}`);
  for (let i = 1; i < COLUMNS.length; i++) {
    const c = COLUMNS[i];
    setText(cells[i], c.text(f));
    if (c.title) setAttr(cells[i], 'title', c.title(f));
  }
}
