// SPDX-License-Identifier: Apache-2.0
// The Policy page: the policy in force, its history with semantic diffs,
// validate-and-push of an edited policy, rollback.

import { describe, request } from './api.js';
import { confirmAction } from './confirm.js';
import { badge, fill, h } from './dom.js';
import { count } from './format.js';
import { panel, panelError } from './panel.js';
import { createEditor } from './policy-editor.js';
import { changeLine, changesSummary, changesView, parseProblem, problemItem, timeEl } from './policy-render.js';
import { allows } from './session.js';
import { poll, whileVisible } from './timing.js';
import { renderYaml } from './yaml-highlight.js';

const STATUS_EVERY_MS = 5000;
const HISTORY_LIMIT = 100;
const CONFIRM_CHANGES = 12; // change lines a confirmation lists before "and N more"

function historyPanel() {
  return panel('History', { id: 'policy-history-panel' }, h('span', { class: 'muted small', id: 'policy-history-meta' }),
    h('div', { class: 'scroll policy-history-scroll' },
      h('table', { class: 'table policy-history', role: 'grid', 'aria-label': 'Policy versions' },
        h('thead', {}, h('tr', {}, h('th', { class: 'num' }, 'Version'), h('th', {}, 'Pushed'), h('th', {}, h('span', { class: 'visually-hidden' }, 'State')))),
        h('tbody', { id: 'policy-versions' }))),
    h('p', { class: 'empty', id: 'policy-versions-empty', hidden: true }, 'No version has been pushed yet.'));
}

function viewPanel(operator) {
  const el = panel('Policy in force', { id: 'policy-view-panel' },
    h('span', { class: 'panel-meta' },
      h('span', { class: 'muted small', id: 'policy-view-meta' }),
      operator ? h('button', { type: 'button', class: 'btn small', id: 'policy-edit-version', title: 'Put this version\'s source in the editor' }, 'Edit a copy') : null),
    h('pre', { class: 'yaml yaml-view', id: 'policy-source', tabindex: '0', 'aria-label': 'Policy source' }));
  el.querySelector('h2').id = 'policy-view-title'; // select() titles it with the version
  return el;
}

function diffPanel(operator) {
  const modes = operator
    ? h('span', { class: 'seg', role: 'group', 'aria-label': 'Compare with' },
      h('button', { type: 'button', class: 'btn small', id: 'policy-diff-prev', 'aria-pressed': 'true' }, 'vs previous'),
      h('button', { type: 'button', class: 'btn small', id: 'policy-diff-live', 'aria-pressed': 'false' }, 'vs in force'))
    : null;
  return panel('Access changes', { id: 'policy-diff-panel' }, modes,
    operator
      ? h('div', { id: 'policy-diff', 'data-state': 'none', 'aria-live': 'polite' })
      : h('p', { class: 'empty muted', id: 'policy-diff-note' }, 'diffs need the operator role'));
}

const checkHint = () => h('p', { class: 'muted small' }, 'Validate to see errors, warnings and what a push would change.');
const previewHint = () => h('p', { class: 'muted small' }, 'Validate first.');

function editPanel() {
  return panel('Edit and push', { id: 'policy-edit-panel' },
    h('span', { class: 'panel-meta policy-actions' },
      h('span', { class: 'muted small', id: 'policy-base' }),
      h('label', { class: 'small muted', for: 'policy-filename' }, 'File'),
      h('input', { id: 'policy-filename', class: 'mono', type: 'text', value: 'policy.yaml', spellcheck: 'false', autocomplete: 'off', size: '16' }),
      h('button', { type: 'button', class: 'btn', id: 'policy-reset' }, 'Discard edits'),
      h('button', { type: 'button', class: 'btn', id: 'policy-validate' }, 'Validate'),
      h('button', { type: 'button', class: 'btn primary', id: 'policy-push' }, 'Push…')),
    // where the operator is looking when someone else pushes
    h('div', { class: 'policy-notice', id: 'policy-notice', role: 'alert', hidden: true },
      h('span', { id: 'policy-notice-text' }),
      h('button', { type: 'button', class: 'btn small', id: 'policy-notice-load' }, 'Load it into the editor')),
    h('div', { class: 'policy-edit' },
      h('div', { class: 'policy-edit-main', id: 'policy-editor-host' },
        // until the policy in force is read, the editor is read-only: text
        // typed into it could not be told from the text loaded over it
        h('p', { class: 'muted small policy-editor-wait', id: 'policy-editor-wait', role: 'status' },
          'Reading the policy in force…'),
        h('p', { class: 'muted small', id: 'policy-editor-hint' },
          'Tab indents two spaces, Shift+Tab outdents; Esc then Tab leaves the editor.')),
      h('div', { class: 'policy-edit-side' },
        h('div', { id: 'policy-check', class: 'policy-check', 'data-valid': '' }, checkHint()),
        h('h3', { class: 'side-head' }, 'Problems'),
        h('p', { class: 'muted small', id: 'policy-problems-stale', hidden: true }, 'Edited since this check: validate again.'),
        h('ul', { id: 'policy-problems', class: 'problems', 'aria-label': 'Errors and warnings' }))),
    h('div', { class: 'policy-preview-wrap' },
      h('h3', { class: 'side-head' }, 'What this push would change'),
      h('div', { id: 'policy-preview', 'data-state': 'none' }, previewHint())));
}

function layout(operator) {
  return h('div', { class: 'policy-page', id: 'policy-page' },
    h('div', { class: 'page-head' },
      h('h1', {}, 'Policy'),
      h('span', { class: 'muted', id: 'policy-live' })),
    // fixed bottom left (the buttons are right): a result shows wherever one scrolled
    h('div', { class: 'policy-toast card', id: 'policy-toast', hidden: true },
      h('span', { id: 'policy-status', class: 'policy-status', role: 'status', 'aria-live': 'polite' }),
      h('button', { type: 'button', class: 'icon-btn', id: 'policy-toast-close', 'aria-label': 'Dismiss' }, '\u00d7')),
    h('p', { class: 'panel-error policy-poll-error', id: 'policy-poll-error', role: 'status', hidden: true }),
    h('div', { class: 'policy-grid' },
      historyPanel(),
      h('div', { class: 'policy-right' }, viewPanel(operator), diffPanel(operator))),
    operator ? editPanel() : null);
}

/** A push's file name as the daemon keeps it: a base name in [A-Za-z0-9._-]. */
function baseName(name) {
  const b = String(name ?? '').split('/').pop().replace(/[^A-Za-z0-9._-]/g, '');
  return /^\.*$/.test(b) ? 'policy.yaml' : b;
}

/** The errors and warnings of a reply, or of a refusal (ApiError). */
function problemsOf(reply) {
  const body = reply?.body ?? reply ?? {};
  const errors = Array.isArray(body.errors) ? body.errors : [];
  // api.js may not pass the body on: then the message is the first error
  if (!errors.length && reply instanceof Error && reply.status === 422) errors.push(reply.message);
  return [
    ...errors.map((t) => parseProblem(t, 'error')),
    ...(Array.isArray(body.warnings) ? body.warnings : []).map((t) => parseProblem(t, 'warning')),
  ];
}

/** Lines of change text for a confirmation dialog, at most CONFIRM_CHANGES. */
function changeList(changes) {
  if (!changes?.length) return null;
  const items = changes.slice(0, CONFIRM_CHANGES).map((c) => h('li', { class: 'mono small', 'data-change': c.change }, changeLine(c)));
  if (changes.length > CONFIRM_CHANGES) items.push(h('li', { class: 'muted small' }, `and ${changes.length - CONFIRM_CHANGES} more`));
  return h('ul', { class: 'confirm-changes' }, items);
}

/**
 * Mounts the Policy page in outlet; returns the unmount function.  Viewers
 * see the policy, its history and each version's source; operators also
 * diffs, the editor, validate, push and rollback.  #/policy?version=N opens
 * with version N selected, and the hash follows the selection.
 */
export function mountPolicy(outlet, params) {
  const operator = allows('operator');
  const wanted = Number(params?.get('version')) || null; // #/policy?version=N
  const root = layout(operator);
  outlet.append(root);
  const $ = (sel) => root.querySelector(sel);
  const life = new AbortController(); // aborts everything at unmount
  const S = {
    live: null, // GET /v1/policy, null when none is in force
    liveVersion: undefined, // undefined until first read
    versions: [],
    selected: wanted,
    follow: !wanted, // the selection tracks the version in force
    diffMode: 'prev',
    base: { version: null, text: '' }, // what the editor was loaded from
    sources: new Map(), // version → source (a version never changes)
  };
  let viewCtl = null; // the selection's requests in flight
  let editor = null;
  // why the editor is read-only now: 'load' until the policy in force is
  // read, 'busy' while a validate or push is out (its answer is about the
  // text as it was sent)
  const locks = new Set();

  let toastTimer = 0;
  function setStatus(text, kind = 'info') {
    const el = $('#policy-status');
    el.textContent = text ?? '';
    el.dataset.kind = kind;
    $('#policy-toast').dataset.kind = kind;
    $('#policy-toast').hidden = !text;
    clearTimeout(toastTimer);
    // success fades; an error stays until dismissed or replaced
    if (kind === 'ok') toastTimer = setTimeout(() => { $('#policy-toast').hidden = true; }, 10000);
  }

  function dirty() {
    return !!editor && editor.value() !== S.base.text;
  }

  function lock(why, on) {
    if (on) locks.add(why);
    else locks.delete(why);
    if (!editor) return;
    editor.textarea.readOnly = locks.size > 0;
    editor.el.classList.toggle('waiting', locks.has('load'));
    $('#policy-editor-wait').hidden = !locks.has('load');
    for (const id of ['#policy-validate', '#policy-push', '#policy-reset']) $(id).disabled = locks.size > 0;
  }

  /* ---- the policy in force and the history ---- */

  function renderLive() {
    const p = S.live;
    fill($('#policy-live'), p
      ? [`version ${p.version} in force · generation ${count(p.generation)} · `, h('span', { class: 'mono' }, p.filename), ' · pushed ', timeEl(p.pushed_at)]
      : 'no policy in force');
  }

  function versionRow(v) {
    const n = v.version;
    return h('tr', {
      'data-version': n, 'data-in-force': v.in_force ? 'true' : 'false', tabindex: '-1',
      'aria-selected': 'false', class: v.in_force ? 'in-force' : null,
    },
    h('td', { class: 'num strong' }, String(n)),
    h('td', {},
      h('div', { class: 'mono small ellipsis', title: v.filename ?? '' }, v.filename ?? '—'),
      h('div', { class: 'muted small' }, timeEl(v.pushed_at)),
      v.rollback_of ? h('div', { class: 'muted small' }, `rollback of ${v.rollback_of}`) : null),
    h('td', { class: 'row-end' },
      v.in_force ? badge('in force', 'ok') : null,
      !v.in_force && operator
        ? h('button', { type: 'button', class: 'btn small policy-rollback', 'data-version': n, tabindex: '-1', 'aria-label': `Roll back to version ${n}` }, 'Roll back')
        : null));
  }

  function renderHistory() {
    fill($('#policy-versions'), S.versions.map(versionRow));
    $('#policy-versions-empty').hidden = S.versions.length > 0;
    fill($('#policy-history-meta'), S.versions.length ? `${S.versions.length} shown` : '');
    markSelected(false);
  }

  async function loadLive(signal) {
    try {
      S.live = await request('GET', '/v1/policy', undefined, { signal });
    } catch (e) {
      if (e.status !== 404) throw e;
      S.live = null; // nothing pushed yet
    }
    S.liveVersion = S.live?.version ?? null;
    if (S.live) S.sources.set(S.live.version, S.live.source);
    renderLive();
  }

  async function loadHistory(signal) {
    const panelEl = $('#policy-history-panel');
    try {
      const r = await request('GET', `/v1/policy/versions?limit=${HISTORY_LIMIT}`, undefined, { signal });
      S.versions = Array.isArray(r?.versions) ? r.versions : [];
      panelError(panelEl, null);
    } catch (e) {
      if (signal.aborted) return;
      panelError(panelEl, e); // a fleet whose store is out of reach: 503
    }
    renderHistory();
  }

  // Only one refresh at a time: the status poll waits for it.
  let refreshing = null;
  function refresh() {
    refreshing ??= (async () => {
      const signal = life.signal;
      const before = S.liveVersion;
      try {
        await Promise.all([loadLive(signal), loadHistory(signal)]);
        panelError($('#policy-view-panel'), null);
      } catch (e) {
        if (signal.aborted) return;
        panelError($('#policy-view-panel'), e);
        if (editor && locks.has('load')) {
          const wait = $('#policy-editor-wait');
          wait.dataset.kind = 'error';
          fill(wait, `The editor opens once the policy in force is read: ${e.message}. Trying again…`);
        }
        return;
      }
      const inForce = S.liveVersion;
      const keep = !S.follow && S.versions.some((v) => v.version === S.selected);
      if (!keep) select(inForce ?? S.versions[0]?.version ?? null);
      else if (before === undefined) select(S.selected); // opened at ?version=N
      else markSelected(false);
      if (editor) followInEditor(before, inForce);
    })().finally(() => {
      refreshing = null;
    });
    return refreshing;
  }

  // A refresh already in flight may have read the version before ours.
  async function refreshTo(version) {
    await refresh();
    if (S.liveVersion !== version) await refresh();
  }

  /* ---- the selected version: source and diff ---- */

  function markSelected(focus) {
    for (const tr of $('#policy-versions').rows) {
      const on = Number(tr.dataset.version) === S.selected;
      tr.setAttribute('aria-selected', String(on));
      tr.tabIndex = on ? 0 : -1;
      tr.querySelector('.policy-rollback')?.setAttribute('tabindex', on ? '0' : '-1');
      if (on && focus) tr.focus();
    }
    // nothing selected (no versions listed): the first row still takes focus
    const rows = $('#policy-versions').rows;
    if (rows.length && ![...rows].some((r) => r.tabIndex === 0)) rows[0].tabIndex = 0;
  }

  function versionInfo(n) {
    return S.versions.find((v) => v.version === n) ?? (S.live?.version === n ? { ...S.live, in_force: true } : null);
  }

  async function select(n, { focus = false } = {}) {
    viewCtl?.abort();
    viewCtl = new AbortController();
    const signal = viewCtl.signal;
    S.selected = n;
    S.follow = n === S.liveVersion;
    markSelected(focus);
    // a link to what is shown; replaceState does not mount the page again
    history.replaceState(null, '', S.follow ? '#/policy' : `#/policy?version=${n}`);
    const pre = $('#policy-source');
    const viewPanelEl = $('#policy-view-panel');
    const none = n === null || n === undefined;
    pre.hidden = none;
    if (operator) $('#policy-edit-version').disabled = none;
    if (none) {
      $('#policy-view-title').textContent = 'No policy in force';
      pre.replaceChildren();
      delete pre.dataset.version;
      fill($('#policy-view-meta'));
      renderDiff(signal);
      return;
    }
    const info = versionInfo(n);
    fill($('#policy-view-title'), `Version ${n} `, info?.in_force ? badge('in force', 'ok') : null);
    fill($('#policy-view-meta'), info
      ? [h('span', { class: 'mono' }, info.filename ?? ''), ' · ', timeEl(info.pushed_at),
        info.rollback_of ? ` · rollback of ${info.rollback_of}` : '']
      : '');
    renderDiff(signal);
    try {
      let source = S.sources.get(n);
      if (source === undefined) {
        pre.dataset.state = 'loading';
        const r = await request('GET', `/v1/policy/versions/${n}`, undefined, { signal });
        source = String(r?.source ?? '');
        S.sources.set(n, source);
      }
      if (signal.aborted) return;
      renderYaml(pre, source);
      pre.dataset.version = String(n);
      pre.dataset.state = 'ready';
      panelError(viewPanelEl, null);
    } catch (e) {
      if (signal.aborted) return;
      pre.replaceChildren();
      pre.dataset.state = 'error';
      panelError(viewPanelEl, e);
    }
  }

  function setDiffMode(mode) {
    S.diffMode = mode;
    // the source request is aborted too: select() shows it again (cached)
    select(S.selected);
  }

  async function renderDiff(signal) {
    if (!operator) return;
    const box = $('#policy-diff');
    const n = S.selected;
    const live = S.liveVersion;
    // the version in force against itself says nothing: show the previous
    const mode = S.diffMode === 'live' && live && n !== live ? 'live' : 'prev';
    $('#policy-diff-live').disabled = !live || n === live;
    $('#policy-diff-prev').setAttribute('aria-pressed', String(mode === 'prev'));
    $('#policy-diff-live').setAttribute('aria-pressed', String(mode === 'live'));
    const from = mode === 'live' ? live : n - 1;
    const to = n;
    const caption = mode === 'live'
      ? `From version ${live} (in force) to version ${n}: what rolling back to it would change`
      : `From version ${from} to version ${to}`;
    box.dataset.from = from ?? '';
    box.dataset.to = to ?? '';
    if (!n || !from || from < 1) {
      box.dataset.state = 'none';
      fill(box, h('p', { class: 'empty' }, n ? `Version ${n} is the first: there is nothing before it.` : 'Nothing to compare.'));
      return;
    }
    box.dataset.state = 'loading';
    fill(box, h('p', { class: 'muted diff-caption' }, caption), h('p', { class: 'muted small' }, 'Comparing…'));
    try {
      const r = await request('GET', `/v1/policy/diff?from=${from}&to=${to}`, undefined, { signal });
      if (signal.aborted) return;
      const changes = Array.isArray(r?.changes) ? r.changes : [];
      box.dataset.state = changes.length ? 'ready' : 'empty';
      fill(box, h('p', { class: 'muted diff-caption' }, caption), changesView(changes));
    } catch (e) {
      if (signal.aborted) return;
      box.dataset.state = 'error';
      const why = e.status === 422
        ? `These versions cannot be compared: one no longer compiles here (${e.message}).`
        : describe(e, 'compare versions');
      fill(box, h('p', { class: 'muted diff-caption' }, caption), h('p', { class: 'diff-error' }, why));
    }
  }

  function onHistoryKey(ev) {
    const rows = [...$('#policy-versions').rows];
    const tr = ev.target.closest('tr');
    if (!tr || !rows.length) return;
    const i = rows.indexOf(tr);
    let next = null;
    if (ev.key === 'ArrowDown') next = rows[Math.min(rows.length - 1, i + 1)];
    else if (ev.key === 'ArrowUp') next = rows[Math.max(0, i - 1)];
    else if (ev.key === 'Home') next = rows[0];
    else if (ev.key === 'End') next = rows[rows.length - 1];
    else if ((ev.key === 'Enter' || ev.key === ' ') && ev.target === tr) next = tr;
    if (!next) return;
    ev.preventDefault();
    select(Number(next.dataset.version), { focus: true });
  }

  function onHistoryClick(ev) {
    const rb = ev.target.closest('button.policy-rollback');
    const tr = ev.target.closest('tr[data-version]');
    if (!tr) return;
    const n = Number(tr.dataset.version);
    if (S.selected !== n) select(n);
    if (rb) rollback(n);
  }

  /* ---- rollback ---- */

  // What rolling back to n would change: {changes} or {why} it is unknown.
  async function changesTo(n, signal) {
    if (!S.liveVersion) return { why: 'no policy is in force' };
    try {
      const r = await request('GET', `/v1/policy/diff?from=${S.liveVersion}&to=${n}`, undefined, { signal });
      return { changes: Array.isArray(r?.changes) ? r.changes : [] };
    } catch (e) {
      return { why: e.message };
    }
  }

  async function rollback(n) {
    const signal = life.signal;
    const { changes, why } = await changesTo(n, signal);
    if (signal.aborted) return;
    const body = h('div', {},
      h('p', {}, `Version ${n}'s source is pushed again as a new version, checked like any push.`),
      changes ? h('p', {}, changesSummary(changes), changes.length ? ':' : '.') : h('p', {}, `What it would change is unknown: ${why}`),
      changeList(changes));
    const yes = await confirmAction({ title: `Roll back to version ${n}?`, body, ok: 'Roll back', danger: true, signal });
    if (!yes || signal.aborted) return;
    setStatus(`Rolling back to version ${n}…`);
    try {
      const r = await request('POST', '/v1/policy/rollback', { version: n }, { signal });
      setStatus(`Rolled back to version ${n} (now version ${r?.version})`, 'ok');
      S.follow = true;
      await refreshTo(r?.version);
    } catch (e) {
      if (signal.aborted) return;
      // 422: the version no longer passes validation here (a peer it names is gone)
      setStatus(e.status === 422 ? `Rollback refused: ${e.message}` : describe(e, 'roll back'), 'error');
    }
  }

  /* ---- the editor: validate, push ---- */

  /** Lists and marks the problems found in `text`: dimmed if the editor no longer holds it. */
  function showProblems(problems, text) {
    const list = $('#policy-problems');
    list.classList.remove('stale');
    $('#policy-problems-stale').hidden = true;
    fill(list, problems.length ? problems.map(problemItem) : h('li', { class: 'muted small problems-none' }, 'No errors or warnings.'));
    editor.mark(problems);
    if (editor.value() !== text) markStale();
  }

  // The marks and problems are of an earlier text: dim them, say so.
  function markStale() {
    editor.setStale();
    const list = $('#policy-problems');
    if (list.querySelector('li.problem') && !list.classList.contains('stale')) {
      list.classList.add('stale');
      $('#policy-problems-stale').hidden = false;
    }
  }

  function showCheck(valid, text) {
    const box = $('#policy-check');
    box.dataset.valid = String(valid);
    fill(box, h('p', { class: valid ? 'check-ok' : 'check-bad' }, text));
  }

  function showPreview(changes, state) {
    const box = $('#policy-preview');
    box.dataset.state = state;
    fill(box, state === 'ready' ? changesView(changes) : previewHint());
  }

  /** POST /v1/policy/validate: the reply when valid, else null (problems shown). */
  async function validate(signal) {
    const text = editor.value();
    try {
      const r = await request('POST', `/v1/policy/validate?filename=${encodeURIComponent(filenameValue())}`, text, { signal });
      showProblems(problemsOf(r), text);
      showCheck(true, `Valid: ${count(r.rules)} rule${r.rules === 1 ? '' : 's'}, ${count(r.entries)} entr${r.entries === 1 ? 'y' : 'ies'}, ${r.mode} mode.`);
      showPreview(r.changes, 'ready');
      return r;
    } catch (e) {
      if (signal.aborted) throw e;
      if (e.status === 422) {
        const problems = problemsOf(e);
        showProblems(problems, text);
        const n = problems.filter((p) => p.kind === 'error').length;
        showCheck(false, `Not valid: ${n} error${n === 1 ? '' : 's'}.`);
        showPreview(null, 'none');
        return null;
      }
      throw e;
    }
  }

  function filenameValue() {
    const input = $('#policy-filename');
    input.value = baseName(input.value);
    return input.value;
  }

  // The buttons off and the text read-only until the answer is shown:
  // what it says (marks, problems, "Pushed version N") is about the text
  // that was sent, so that text must be what the editor still holds.
  async function busy(fn) {
    lock('busy', true);
    try {
      await fn();
    } finally {
      lock('busy', false);
    }
  }

  async function onValidate() {
    await busy(async () => {
      try {
        const r = await validate(life.signal);
        setStatus(r ? 'The policy is valid.' : 'The policy is not valid: see the problems.', r ? 'ok' : 'error');
      } catch (e) {
        if (!life.signal.aborted) setStatus(describe(e, 'validate'), 'error');
      }
    });
  }

  async function onPush() {
    await busy(async () => {
      const signal = life.signal;
      const text = editor.value();
      const fname = filenameValue();
      try {
        setStatus('Validating…');
        const r = await validate(signal);
        if (!r) {
          setStatus('Not pushed: the policy is not valid.', 'error');
          return;
        }
        setStatus('');
        const nwarn = problemsOf(r).length;
        const body = h('div', {},
          h('p', {}, `${fname}: ${count(r.rules)} rules, ${r.mode} mode.`,
            nwarn ? ` ${nwarn} warning${nwarn === 1 ? '' : 's'} (listed beside the editor).` : ''),
          !$('#policy-notice').hidden ? h('p', { class: 'confirm-warn' }, $('#policy-notice-text').textContent, '.') : null,
          h('p', {}, r.changes ? `${changesSummary(r.changes)}${r.changes.length ? ':' : '.'}` : 'No policy in force: all of it is new.'),
          changeList(r.changes));
        const takes = (r.changes ?? []).some((c) => c.change === '-');
        const yes = await confirmAction({ title: 'Push this policy?', body, ok: 'Push', danger: takes, signal });
        if (!yes) {
          if (!signal.aborted) setStatus('Not pushed.');
          return;
        }
        setStatus('Pushing…');
        const done = await request('PUT', `/v1/policy?filename=${encodeURIComponent(fname)}`, text, { signal });
        S.base = { version: done.version, text };
        S.follow = true;
        $('#policy-notice').hidden = true;
        showProblems(problemsOf(done), text);
        setStatus(`Pushed version ${done.version}`, 'ok');
        await refreshTo(done.version);
      } catch (e) {
        if (signal.aborted) return;
        if (e.status === 422) {
          showProblems(problemsOf(e), text); // the text stays as it is
          showCheck(false, 'Refused by the gateway.');
          setStatus(`Push refused: ${e.message}`, 'error');
        } else {
          setStatus(describe(e, 'push'), 'error');
        }
      }
    });
  }

  function loadIntoEditor(version, text, filename) {
    S.base = { version, text };
    editor.setValue(text);
    $('#policy-filename').value = baseName(filename || 'policy.yaml');
    fill($('#policy-base'), version ? `from version ${version}` : 'new policy');
    fill($('#policy-problems'));
    $('#policy-problems').classList.remove('stale');
    $('#policy-problems-stale').hidden = true;
    $('#policy-check').dataset.valid = '';
    fill($('#policy-check'), checkHint());
    showPreview(null, 'none');
    $('#policy-notice').hidden = true;
  }

  // The version in force changed (a push here or elsewhere, a rollback),
  // or was read for the first time: a clean editor follows it; edits in
  // progress are never overwritten, so whether there are any is asked
  // now, as the text is replaced, not before the requests.
  function followInEditor(before, now) {
    if (before === now) return;
    if (now !== null && now === S.base.version) {
      fill($('#policy-base'), `from version ${now}`); // our own push
      return;
    }
    // nor under a validate or push in flight: its answer is about this text
    if (!dirty() && !locks.has('busy')) {
      if (S.live) loadIntoEditor(S.live.version, S.live.source, S.live.filename);
      else loadIntoEditor(null, '', 'policy.yaml');
      lock('load', false);
      return;
    }
    fill($('#policy-notice-text'), `The policy in force changed since you started editing (version ${now ?? 'none'})`);
    $('#policy-notice-load').hidden = !S.live;
    $('#policy-notice-load').textContent = `Load version ${now} into the editor`;
    $('#policy-notice').hidden = false;
  }

  async function discardInto(version) {
    const text = S.sources.get(version);
    const info = versionInfo(version);
    // not under a validate or push in flight, nor before the first read
    if (text === undefined || locks.size) return;
    if (dirty()) {
      const yes = await confirmAction({
        title: 'Discard your edits?',
        body: `The editor's text is replaced by version ${version}'s source.`,
        ok: 'Discard edits',
        danger: true,
        signal: life.signal,
      });
      if (!yes) return;
    }
    loadIntoEditor(version, text, info?.filename);
    setStatus(`Version ${version} is in the editor.`);
  }

  function onProblemClick(ev) {
    const li = ev.target.closest('li.problem[data-line]');
    if (!li) return;
    editor.goTo(Number(li.dataset.line), Number(li.dataset.col) || 1);
  }

  function mountEditor() {
    editor = createEditor({ onEdit: markStale });
    $('#policy-editor-wait').after(editor.el); // the note above, where one looks
    lock('load', true);
    $('#policy-validate').addEventListener('click', onValidate);
    $('#policy-push').addEventListener('click', onPush);
    $('#policy-reset').addEventListener('click', () => discardInto(S.liveVersion));
    $('#policy-notice-load').addEventListener('click', () => discardInto(S.liveVersion));
    $('#policy-edit-version').addEventListener('click', () => discardInto(S.selected));
    $('#policy-problems').addEventListener('click', onProblemClick);
    $('#policy-diff-prev').addEventListener('click', () => setDiffMode('prev'));
    $('#policy-diff-live').addEventListener('click', () => setDiffMode('live'));
  }

  /* ---- the status poll: a policy pushed by someone else ---- */

  async function tickStatus(signal) {
    if (refreshing) await refreshing;
    try {
      const s = await request('GET', '/v1/status', undefined, { signal });
      const v = s?.policy?.version ?? null;
      if (S.live && s?.policy) S.live.generation = s.policy.generation; // a reapply bumps it alone
      if (v !== S.liveVersion) await refresh();
      else renderLive();
      $('#policy-poll-error').hidden = true;
    } catch (e) {
      if (signal.aborted) return;
      const p = $('#policy-poll-error');
      p.textContent = `Status: ${e.message}`;
      p.hidden = false;
    }
  }

  $('#policy-toast-close').addEventListener('click', () => { $('#policy-toast').hidden = true; });
  $('#policy-versions').addEventListener('keydown', onHistoryKey);
  $('#policy-versions').addEventListener('click', onHistoryClick);
  if (operator) mountEditor();
  refresh();
  const stopPoll = whileVisible(() => poll(tickStatus, STATUS_EVERY_MS));
  return () => {
    stopPoll();
    clearTimeout(toastTimer);
    life.abort();
    viewCtl?.abort();
    editor?.destroy();
  };
}
