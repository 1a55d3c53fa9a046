// SPDX-License-Identifier: Apache-2.0
// Asking before a change: a modal <dialog>, not window.confirm(), so it
// is themed, keyboard-usable and says what the change will do.

import { h } from './dom.js';

let queue = Promise.resolve();
let round = 0; // closeAll() moves it on: what was asked before is void
let open = null; // the dialog showing, if any

/**
 * confirmAction({title, body, ok, danger, signal}) → Promise<boolean>.
 * body is text or a Node.  Escape, Cancel and a click outside the dialog
 * answer false; so does signal (the page's unmount) aborting, or
 * closeAll().  One dialog at a time (a second call waits for the first).
 */
export function confirmAction(opts) {
  const mine = round;
  const next = queue.then(() => (mine === round && !opts.signal?.aborted ? ask(opts) : false));
  queue = next.catch(() => {});
  return next;
}

/**
 * Closes the dialog showing (answering false) and voids those waiting:
 * the page that asked is gone (a route change, a logout), and a modal
 * left open would block what comes next.
 */
export function closeAll() {
  round++;
  open?.close('cancel');
}

function ask({ title, body, ok = 'OK', danger = false, signal }) {
  const yes = h('button', { id: 'confirm-ok', class: `btn ${danger ? 'danger' : 'primary'}`, type: 'button' }, ok);
  const no = h('button', { id: 'confirm-cancel', class: 'btn', type: 'button' }, 'Cancel');
  const dlg = h('dialog', { id: 'confirm', class: 'card confirm', 'aria-labelledby': 'confirm-title' },
    // buttons, not a form: nothing here ever submits (form-action 'none')
    h('h2', { id: 'confirm-title' }, title),
    body ? h('div', { class: 'confirm-body' }, body) : null,
    h('div', { class: 'confirm-actions' }, no, yes));
  document.body.append(dlg);
  return new Promise((resolve) => {
    const abort = () => dlg.close('cancel');
    signal?.addEventListener('abort', abort, { once: true });
    yes.addEventListener('click', () => dlg.close('ok'));
    no.addEventListener('click', () => dlg.close('cancel'));
    dlg.addEventListener('click', (ev) => {
      // the dialog's own padding is the dialog too: only outside its box
      const r = dlg.getBoundingClientRect();
      const inside = ev.clientX >= r.left && ev.clientX <= r.right && ev.clientY >= r.top && ev.clientY <= r.bottom;
      if (ev.target === dlg && !inside) dlg.close('cancel');
    });
    dlg.addEventListener('close', () => {
      signal?.removeEventListener('abort', abort);
      if (open === dlg) open = null;
      dlg.remove();
      resolve(dlg.returnValue === 'ok');
    });
    dlg.showModal();
    open = dlg;
    (danger ? no : yes).focus(); // a destructive default is not Enter
  });
}
