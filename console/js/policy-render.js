// SPDX-License-Identifier: Apache-2.0
// The policy page's pieces: access changes (diffs), problems, dates.

import { h } from './dom.js';
import { fromIso, localTime } from './human.js';

const CHANGE = {
  '+': { word: 'granted', sign: '+' },
  '-': { word: 'taken away', sign: '\u2212' },
  '~': { word: 'altered', sign: '~' },
};

/**
 * The store's "2026-11-22T01:40:02Z" as a <time> in local time (the
 * clock alone today), the exact UTC instant as its title; the text as it
 * is if it is not a date.
 */
export function timeEl(iso) {
  const d = fromIso(iso);
  if (!d) return iso ?? '—';
  return h('time', { datetime: iso, title: d.toISOString() }, localTime(d));
}

function verdict(action, rule) {
  return h('div', { class: 'diff-verdict' },
    h('span', { class: `verb verb-${String(action ?? '').replace(/\s+/g, '-')}` }, action ?? '—'),
    rule ? h('div', { class: 'muted small' }, 'rule ', h('span', { class: 'mono' }, rule)) : null);
}

function changeRow(c) {
  const kind = CHANGE[c.change] ?? { word: 'changed', sign: '?' };
  return h('tr', { class: 'diff-row', 'data-change': c.change },
    h('td', { class: 'diff-sign nowrap', title: kind.word },
      h('span', { 'aria-hidden': 'true' }, kind.sign), h('span', { class: 'diff-word' }, kind.word)),
    h('td', { class: 'mono' }, c.from ?? '—'),
    h('td', { class: 'mono' }, c.to ?? '—'),
    h('td', { class: 'mono' }, c.ports ?? '—'),
    h('td', {}, verdict(c.now, c.new_rule)),
    h('td', {}, verdict(c.was, c.old_rule)));
}

/** "3 changes: 2 granted, 1 taken away" */
export function changesSummary(changes) {
  if (!changes.length) return 'no change in who may reach what';
  const n = { '+': 0, '-': 0, '~': 0 };
  for (const c of changes) n[c.change] = (n[c.change] ?? 0) + 1;
  const parts = Object.entries(CHANGE).filter(([k]) => n[k]).map(([k, v]) => `${n[k]} ${v.word}`);
  return `${changes.length} change${changes.length === 1 ? '' : 's'} in access: ${parts.join(', ')}`;
}

const SHOWN = 200; // change rows drawn before "Show all": a big table is slow to lay out

/**
 * The access changes of a diff or a validation as a node: a summary and
 * one tr.diff-row[data-change] per change (the first 200, then a button
 * for the rest).  changes null: there was no policy in force to compare.
 */
export function changesView(changes) {
  if (changes === null || changes === undefined) {
    return h('p', { class: 'empty' }, 'No policy in force to compare with: all of it is new.');
  }
  if (!changes.length) return h('p', { class: 'empty diff-none' }, 'no change in who may reach what');
  const tbody = h('tbody', {}, changes.slice(0, SHOWN).map(changeRow));
  const more = changes.length > SHOWN
    ? h('button', { type: 'button', class: 'btn small diff-more' }, `Show all ${changes.length} changes`)
    : null;
  more?.addEventListener('click', () => {
    tbody.append(...changes.slice(SHOWN).map(changeRow));
    more.remove();
  });
  return h('div', { class: 'diff' },
    h('p', { class: 'diff-summary' }, changesSummary(changes)),
    h('div', { class: 'scroll-x diff-scroll' },
      h('table', { class: 'table diff-table' },
        h('thead', {}, h('tr', {}, ['Change', 'From', 'To', 'Ports', 'Now', 'Was'].map((t) => h('th', {}, t)))),
        tbody)),
    more);
}

/** One change as a line of text, for the confirmation dialogs. */
export function changeLine(c) {
  const rule = (r) => (r ? ` (rule ${r})` : '');
  return `${c.change} ${c.from} \u2192 ${c.to} ${c.ports}: ${c.now}${rule(c.new_rule)}, was ${c.was}${rule(c.old_rule)}`;
}

const AT = /^(.*?):(\d+):(\d+): (.*)$/s;

/**
 * "policy.yaml:12:7: unknown identity \"x\"" → {line: 12, col: 7, kind,
 * message}; a problem without a place keeps its whole text and no line.
 */
export function parseProblem(text, kind) {
  const s = String(text ?? '');
  const m = AT.exec(s);
  let message = m ? m[4] : s;
  if (message.startsWith('warning: ')) {
    message = message.slice('warning: '.length);
    kind = 'warning';
  }
  return m ? { kind, line: Number(m[2]), col: Number(m[3]), file: m[1], message } : { kind, message };
}

/** li.problem[data-kind][data-line]: the place as a button that goes there. */
export function problemItem(p) {
  return h('li', {
    class: 'problem',
    'data-kind': p.kind,
    'data-line': p.line ?? null,
    'data-col': p.col ?? null,
  },
  h('span', { class: 'problem-kind' }, p.kind),
  p.line
    ? h('button', { type: 'button', class: 'problem-at mono', title: `Go to line ${p.line}, column ${p.col}` },
      `${p.line}:${p.col}`)
    : null,
  h('span', { class: 'problem-msg' }, p.message));
}
