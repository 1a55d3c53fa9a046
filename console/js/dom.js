// SPDX-License-Identifier: Apache-2.0
// Building DOM without innerHTML: every string from the API is untrusted.

/**
 * h('td', {class: 'num'}, 'text', child): attributes go through
 * setAttribute and strings become text nodes, so nothing the API sends is
 * ever parsed as markup.  Null, undefined and false children are skipped,
 * which keeps conditional parts readable at the call site.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    // The CSP refuses both; failing here finds the mistake in development.
    if (name === 'style' || name.startsWith('on')) {
      throw new Error(`h: attribute '${name}' is not allowed`);
    }
    if (value !== null && value !== undefined && value !== false) {
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat()) {
    if (c !== null && c !== undefined && c !== false) {
      el.append(c instanceof Node ? c : String(c));
    }
  }
}

export const byId = (id) => document.getElementById(id);

/** Replaces an element's content with text (or nodes). */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/**
 * fill(), but only when the content would differ (isEqualNode compares
 * the nodes, text and attributes): a poll that brings the same values
 * keeps the cell's nodes, so a text selection in it survives.
 */
export function refill(el, ...children) {
  const next = el.cloneNode(false);
  append(next, children);
  if (!next.isEqualNode(el)) el.replaceChildren(...next.childNodes);
}

/** A coloured pill; kind is ok, warn, bad or neutral. */
export function badge(text, kind = 'neutral') {
  return h('span', { class: `badge badge-${kind}` }, text ?? '—');
}
