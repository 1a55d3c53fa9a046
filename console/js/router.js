// SPDX-License-Identifier: Apache-2.0
// Hash routing (#/overview): one page mounted at a time, nav by role.

import { closeAll } from './confirm.js';
import { h } from './dom.js';

/**
 * routes: [{path, title, role, mount(outlet, params) → unmount}].  A route
 * the role may not see is neither in the nav nor reachable by typing its
 * hash: both lead to `home`.  "#/flows?verdict=deny" mounts /flows with
 * params (URLSearchParams); a page that keeps its state there updates the
 * hash with history.replaceState, which does not mount it again.
 */
export function createRouter({ routes, outlet, nav, allows, home }) {
  let unmount = null;

  function visible() {
    return routes.filter((r) => allows(r.role));
  }

  function render() {
    const [path, query = ''] = location.hash.replace(/^#/, '').split(/\?(.*)/s, 2);
    const r = visible().find((x) => x.path === path);
    if (!r) {
      location.replace(`#${home}`); // fires hashchange, which renders
      return;
    }
    closeAll(); // a question of the page left is void
    unmount?.();
    outlet.replaceChildren();
    unmount = r.mount(outlet, new URLSearchParams(query)) ?? null;
    document.title = `${r.title} · Portcullis`;
    for (const a of nav.querySelectorAll('a')) {
      if (a.getAttribute('href') === `#${r.path}`) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
  }

  return {
    start() {
      nav.replaceChildren(...visible().map((r) => h('a', { href: `#${r.path}` }, r.title)));
      window.addEventListener('hashchange', render);
      render();
    },
    stop() {
      window.removeEventListener('hashchange', render);
      closeAll(); // the modal would sit over the login form
      unmount?.();
      unmount = null;
      outlet.replaceChildren();
      nav.replaceChildren();
      document.title = 'Portcullis';
    },
  };
}
