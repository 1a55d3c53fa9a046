// SPDX-License-Identifier: Apache-2.0
// A virtualized list: of thousands of items, only the rows in view (and a
// few either side) exist in the DOM.  Rows share one height, keep their
// element across updates (found by key) and are placed with a transform,
// so a scroll or a refresh touches a few dozen nodes at most.

/**
 * createVirtualList({viewport, body, rowHeight, overscan, key, create,
 * update}): viewport is the scrolling element, body the element inside it
 * that holds the rows (its height becomes items × rowHeight; anything
 * above it in the viewport, such as a sticky header, is allowed).
 * rowHeight is px, or a function asked again when the viewport resizes
 * (a narrow layout may have taller rows).  create() → a new row element;
 * update(el, item, index) fills it, and runs only when the row shows a
 * different item object than before.
 * Returns {setItems(items, {anchor}), render(), scrollToTop(), destroy(),
 * size()}.
 */
export function createVirtualList({ viewport, body, rowHeight, overscan = 8, key, create, update }) {
  let items = [];
  let live = new Map(); // key → {el, item, index} of the rows in the DOM
  const spare = []; // detached rows, reused before creating any
  let bodyTop = 0; // body's offset in the viewport's scrolled content
  let height = 0; // the viewport's visible height
  let rowH = 0;

  function measure() {
    const v = viewport.getBoundingClientRect();
    bodyTop = body.getBoundingClientRect().top - v.top + viewport.scrollTop;
    height = viewport.clientHeight;
    const h = typeof rowHeight === 'function' ? rowHeight() : rowHeight;
    if (h > 0 && h !== rowH) {
      rowH = h;
      body.style.height = `${items.length * rowH}px`;
      for (const row of live.values()) row.index = -1; // to be placed again
    }
  }

  /** The range [first, last) of item indexes to have in the DOM. */
  function range() {
    const top = viewport.scrollTop - bodyTop;
    const first = Math.max(0, Math.floor(top / rowH) - overscan);
    const last = Math.min(items.length, Math.ceil((top + height) / rowH) + overscan);
    return [first, Math.max(first, last)];
  }

  function render() {
    if (!rowH) return; // not laid out (hidden): nothing is in view
    const [first, last] = range();
    const keys = [];
    const wanted = new Set();
    for (let i = first; i < last; i++) {
      let k = key(items[i]);
      if (wanted.has(k)) k = `${k}#${i}`; // a duplicate still gets its own row
      keys.push(k);
      wanted.add(k);
    }
    // rows scrolled out are refilled where they are: moving a row costs
    // less than taking it out of the DOM and putting it back
    const free = [];
    for (const [k, row] of live) if (!wanted.has(k)) free.push(row);
    const next = new Map();
    for (let i = first; i < last; i++) {
      const item = items[i];
      const k = keys[i - first];
      let row = live.get(k);
      if (!row) {
        row = free.pop() ?? { el: spare.pop() ?? create(), index: -1 };
        row.item = null;
      }
      if (row.item !== item) {
        update(row.el, item, i);
        row.item = item;
      }
      if (row.index !== i) {
        row.el.style.transform = `translateY(${i * rowH}px)`;
        row.el.setAttribute('aria-rowindex', String(i + 2)); // 1 is the header
        row.index = i;
      }
      if (!row.el.isConnected) body.append(row.el);
      next.set(k, row);
    }
    for (const row of free) {
      row.el.remove();
      if (spare.length < 2 * overscan) spare.push(row.el);
    }
    live = next;
  }

  /**
   * The index in `next` of the row at the top of the view, and how far
   * it is scrolled past, so a refresh that adds rows above it does not
   * move what the reader is looking at.
   */
  function anchorIn(next) {
    const top = viewport.scrollTop - bodyTop;
    if (top <= 0 || !items.length || !rowH) return null;
    const i = Math.min(items.length - 1, Math.floor(top / rowH));
    const k = key(items[i]);
    for (let j = 0; j < next.length; j++) {
      if (key(next[j]) === k) return { to: j, by: top - i * rowH };
    }
    return null; // gone: keep the scroll position as it is
  }

  const onScroll = () => render();
  viewport.addEventListener('scroll', onScroll, { passive: true });
  const resized = new ResizeObserver(() => {
    measure();
    render();
  });
  resized.observe(viewport);
  measure();

  return {
    /** New items (a new array each time); anchor keeps the top row in place. */
    setItems(next, { anchor = true } = {}) {
      measure(); // the header above the rows may have changed height
      const a = anchor ? anchorIn(next) : null;
      items = next;
      body.style.height = `${items.length * rowH}px`;
      if (a) viewport.scrollTop = bodyTop + a.to * rowH + a.by;
      render();
    },
    render,
    /** Back to the first row (a new filter is a new list). */
    scrollToTop() {
      viewport.scrollTop = 0;
    },
    size: () => items.length,
    destroy() {
      viewport.removeEventListener('scroll', onScroll);
      resized.disconnect();
      live.clear();
      spare.length = 0;
    },
  };
}
