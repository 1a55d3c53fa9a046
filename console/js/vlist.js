// SPDX-License-Identifier: Apache-2.0
// A virtualized list: of thousands of items, only the rows in view (and a
// few either side) exist in the DOM.  Rows share one height, keep their
// element across updates (found by key) and are placed with a transform,
// so a scroll or a refresh touches a few dozen nodes at most.

/** The positions in a of a longest increasing run of its values. */
function inOrder(a) {
  const tails = []; // tails[k]: position of the smallest end of a run of k + 1
  const prev = new Array(a.length);
  for (let i = 0; i < a.length; i++) {
    let lo = 0;
    let hi = tails.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (a[tails[mid]] < a[i]) lo = mid + 1;
      else hi = mid;
    }
    prev[i] = lo ? tails[lo - 1] : -1;
    tails[lo] = i;
  }
  const run = [];
  for (let i = tails.length ? tails[tails.length - 1] : -1; i >= 0; i = prev[i]) run.push(i);
  return run.reverse();
}

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
    // rows scrolled out are refilled for the rows scrolled in
    const free = [];
    for (const [k, row] of live) if (!wanted.has(k)) free.push(row);
    const next = new Map();
    const rows = []; // in index order
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
      next.set(k, row);
      rows.push(row.el);
    }
    for (const row of free) {
      row.el.remove();
      if (spare.length < 2 * overscan) spare.push(row.el);
    }
    live = next;
    order(rows);
  }

  /**
   * Puts the rows into the DOM in index order (a screen reader reads a
   * role=table in DOM order, whatever the transforms show), moving only
   * those outside the longest run already in order: a scroll by a few
   * rows moves a few rows.
   */
  function order(rows) {
    const at = new Map(rows.map((el, i) => [el, i]));
    const seq = [...body.children].filter((el) => at.has(el));
    const stay = new Set(inOrder(seq.map((el) => at.get(el))).map((j) => seq[j]));
    let ref = null;
    for (let i = rows.length - 1; i >= 0; i--) {
      if (!stay.has(rows[i])) body.insertBefore(rows[i], ref);
      ref = rows[i];
    }
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
