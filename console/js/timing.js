// SPDX-License-Identifier: Apache-2.0
// Polling that waits for each answer, and pausing work in hidden tabs.

const SLOW_FACTOR = 10;

/**
 * Calls fn(signal) now and again `ms` after each call settles (or ten
 * times as long as the call took, if that is longer).  setTimeout rather
 * than setInterval: a slow gateway is never asked twice at once.
 * Returns stop(), which also aborts a call in flight.
 */
export function poll(fn, ms) {
  const ctl = new AbortController();
  let timer = 0;
  async function run() {
    const t0 = performance.now();
    try {
      await fn(ctl.signal);
    } catch (e) {
      if (!ctl.signal.aborted) console.error('poll:', e);
    }
    // the daemon answers on one thread: an answer that took long (a
    // busy gateway, a large list over a slow link) is asked for again
    // after ten times as long, so that a page keeps under a tenth of it
    const took = performance.now() - t0;
    if (!ctl.signal.aborted) timer = setTimeout(run, Math.max(ms, SLOW_FACTOR * took));
  }
  run();
  return () => {
    ctl.abort();
    clearTimeout(timer);
  };
}

/**
 * Runs start() while the page is visible and its returned stop() while it
 * is hidden: nobody is looking, so the daemon should not do the work (a
 * /v1/status walks conntrack; an event stream holds one of 32 slots).
 * Returns a dispose() that stops for good.
 */
export function whileVisible(start) {
  let stop = null;
  function sync() {
    if (document.visibilityState === 'visible') {
      stop ??= start();
    } else if (stop) {
      stop();
      stop = null;
    }
  }
  document.addEventListener('visibilitychange', sync);
  sync();
  return () => {
    document.removeEventListener('visibilitychange', sync);
    stop?.();
    stop = null;
  };
}

/** What a run() of latest() resolves to when its answer came too late. */
export const STALE = Symbol('stale');

/**
 * latest() → run(fn): run calls fn() and resolves to its result, or to
 * STALE when a later run's answer has been used already (a slow poll
 * overtaken by the refresh after a change must not draw older data over
 * it).  A stale run's error resolves to STALE too; a current one's throws.
 */
export function latest() {
  let started = 0;
  let used = 0; // the newest run whose answer was used
  return async (fn) => {
    const my = ++started;
    try {
      const value = await fn();
      if (my < used) return STALE;
      used = my;
      return value;
    } catch (e) {
      if (my < used) return STALE;
      throw e;
    }
  };
}
