// SPDX-License-Identifier: Apache-2.0
// The policy editor: a plain textarea over a highlighted copy of the lines
// in view, a line-number gutter that marks problems, Tab to indent.

import { h } from './dom.js';
import { lineElement, tokenizeYaml } from './yaml-highlight.js';

const INDENT = '  ';
const OVERSCAN = 15; // lines highlighted above and below the visible ones

/** Character offset of line:col (both 1-based; col counts code points). */
function offsetOf(text, line, col) {
  let off = 0;
  for (let l = 1; l < line; l++) {
    const nl = text.indexOf('\n', off);
    if (nl < 0) return text.length;
    off = nl + 1;
  }
  const end = text.indexOf('\n', off);
  const lineText = text.slice(off, end < 0 ? text.length : end);
  const head = Array.from(lineText).slice(0, Math.max(0, col - 1)).join('');
  return off + head.length;
}

/**
 * createEditor({onEdit}) → {el, textarea, value, setValue, goTo, mark,
 * setStale, destroy}.  The textarea is #policy-editor, the gutter
 * #policy-gutter with one [data-line] element per line.
 */
export function createEditor({ onEdit } = {}) {
  const textarea = h('textarea', {
    id: 'policy-editor', class: 'ed-text', spellcheck: 'false', wrap: 'off',
    autocomplete: 'off', autocapitalize: 'off', 'aria-label': 'Policy (YAML)',
    'aria-describedby': 'policy-editor-hint',
  });
  const gutterInner = h('div', { class: 'ed-gutter-inner' });
  const hlInner = h('div', { class: 'ed-hl-inner' });
  const el = h('div', { class: 'ed' },
    h('div', { class: 'ed-gutter', id: 'policy-gutter', 'aria-hidden': 'true' }, gutterInner),
    h('div', { class: 'ed-main' }, h('pre', { class: 'ed-hl yaml', 'aria-hidden': 'true' }, hlInner), textarea));

  let tokens = [[]];
  let retokenize = true; // the text changed since tokens were made
  let marks = new Map(); // line → {kind, text}
  let frame = 0;
  let escaped = false; // Esc, then Tab leaves the editor: no keyboard trap
  let lineHeight = 0;
  let charWidth = 0;

  function metrics() {
    lineHeight ||= parseFloat(getComputedStyle(textarea).lineHeight) || 20;
    return lineHeight;
  }

  // one character of the monospace font, measured in the highlight layer
  function charW() {
    if (!charWidth) {
      const probe = h('span', {}, 'x'.repeat(100));
      hlInner.append(probe);
      charWidth = probe.getBoundingClientRect().width / 100 || 7.5;
      probe.remove();
    }
    return charWidth;
  }

  function paintGutter() {
    const n = tokens.length;
    if (gutterInner.childElementCount !== n) {
      const frag = document.createDocumentFragment();
      for (let i = 1; i <= n; i++) frag.append(h('div', { class: 'ed-ln', 'data-line': i }, String(i)));
      gutterInner.replaceChildren(frag);
      el.style.setProperty('--digits', String(String(n).length));
    }
    for (const ln of gutterInner.querySelectorAll('.has-error, .has-warning')) {
      ln.classList.remove('has-error', 'has-warning');
      ln.removeAttribute('title');
    }
    for (const [line, m] of marks) {
      const ln = gutterInner.children[line - 1];
      if (!ln) continue;
      ln.classList.add(`has-${m.kind}`);
      ln.title = m.text;
    }
  }

  // only the lines in view are highlighted: typing in a 2,000-line
  // policy must not rebuild 2,000 lines of spans
  function paintLines() {
    const lh = metrics();
    const top = textarea.scrollTop;
    const first = Math.max(0, Math.floor(top / lh) - OVERSCAN);
    const last = Math.min(tokens.length, Math.ceil((top + textarea.clientHeight) / lh) + OVERSCAN);
    const frag = document.createDocumentFragment();
    for (let i = first; i < last; i++) {
      const line = lineElement(tokens[i], i + 1);
      const m = marks.get(i + 1);
      if (m) line.classList.add(`has-${m.kind}`);
      frag.append(line);
    }
    hlInner.replaceChildren(frag);
    hlInner.style.transform = `translate(${-textarea.scrollLeft}px, ${first * lh - top}px)`;
    gutterInner.style.transform = `translateY(${-top}px)`;
  }

  function paint() {
    cancelAnimationFrame(frame);
    frame = 0;
    if (retokenize) tokens = tokenizeYaml(textarea.value);
    retokenize = false;
    paintGutter();
    paintLines();
  }

  function schedule() {
    frame ||= requestAnimationFrame(paint);
  }

  // Replace whole lines [a, b) of the value through the undo stack.
  function replaceLines(a, b, text, selStart, selEnd) {
    textarea.setSelectionRange(a, b);
    if (!document.execCommand('insertText', false, text)) {
      textarea.setRangeText(text, a, b, 'end');
      textarea.dispatchEvent(new Event('input', { bubbles: true }));
    }
    textarea.setSelectionRange(selStart, selEnd);
  }

  function indent(outdent) {
    const v = textarea.value;
    const { selectionStart: s, selectionEnd: e } = textarea;
    if (!outdent && !v.slice(s, e).includes('\n')) {
      if (!document.execCommand('insertText', false, INDENT)) {
        textarea.setRangeText(INDENT, s, e, 'end');
        textarea.dispatchEvent(new Event('input', { bubbles: true }));
      }
      return;
    }
    const a = v.lastIndexOf('\n', s - 1) + 1;
    let b = v.indexOf('\n', e > s && v[e - 1] === '\n' ? e - 1 : e);
    if (b < 0) b = v.length;
    const lines = v.slice(a, b).split('\n');
    const out = lines.map((l) => (outdent ? l.replace(/^ {1,2}/, '') : INDENT + l));
    const firstDelta = out[0].length - lines[0].length;
    const total = out.join('\n').length - (b - a);
    replaceLines(a, b, out.join('\n'), Math.max(a, s + firstDelta), Math.max(a, e + total));
  }

  textarea.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') {
      escaped = true;
      return;
    }
    const plainTab = ev.key === 'Tab' && !ev.ctrlKey && !ev.altKey && !ev.metaKey;
    // read-only: Tab moves on (indent() would write past readOnly)
    if (!plainTab || escaped || textarea.readOnly) {
      if (ev.key !== 'Tab' && ev.key !== 'Shift') escaped = false;
      return;
    }
    ev.preventDefault();
    indent(ev.shiftKey);
  });
  textarea.addEventListener('blur', () => {
    escaped = false;
  });
  textarea.addEventListener('input', () => {
    retokenize = true; // in the next frame: a burst of keys tokenizes once
    schedule();
    onEdit?.();
  });
  textarea.addEventListener('scroll', schedule);
  const resize = new ResizeObserver(schedule);
  resize.observe(textarea);

  return {
    el,
    textarea,
    value: () => textarea.value,
    /** Replaces the text (and the undo history) and forgets the marks. */
    setValue(text) {
      textarea.value = text ?? '';
      marks = new Map();
      el.classList.remove('stale');
      retokenize = true;
      textarea.scrollTop = 0;
      textarea.scrollLeft = 0;
      paint();
    },
    /** Puts the caret at line:col and scrolls it into view. */
    goTo(line, col = 1) {
      const off = offsetOf(textarea.value, line, col);
      textarea.focus({ preventScroll: true });
      textarea.setSelectionRange(off, off);
      const lh = metrics();
      textarea.scrollTop = Math.max(0, (line - 1) * lh - textarea.clientHeight / 3);
      // a caret far right: bring its column into view too
      textarea.scrollLeft = Math.max(0, (col - 1) * charW() - textarea.clientWidth / 2);
      const ln = gutterInner.children[line - 1];
      ln?.classList.add('is-target');
      setTimeout(() => ln?.classList.remove('is-target'), 1500);
      paint();
    },
    /** problems: [{line, kind, message}]; an error outranks a warning. */
    mark(problems) {
      marks = new Map();
      for (const p of problems) {
        if (!p.line) continue;
        const m = marks.get(p.line);
        const kind = m?.kind === 'error' || p.kind === 'error' ? 'error' : 'warning';
        marks.set(p.line, { kind, text: m ? `${m.text}\n${p.message}` : p.message });
      }
      el.classList.remove('stale');
      paint();
    },
    /** The marks are from before the last edit: dim them. */
    setStale() {
      if (marks.size) el.classList.add('stale');
    },
    destroy() {
      resize.disconnect();
      cancelAnimationFrame(frame);
    },
  };
}
