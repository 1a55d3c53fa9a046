// SPDX-License-Identifier: Apache-2.0
// Polling that waits for each answer, and pausing work in hidden tabs.

/**
 * Calls fn(signal) now and again `ms` after each call settles.  setTimeout
 * rather than setInterval: a slow gateway is never asked twice at once.
 * Returns stop(), which also aborts a call in flight.
 */
export function poll(fn, ms) {
  const ctl = new AbortController();
  let timer = 0;
  async function run() {
    try {
      await fn(ctl.signal);
    } catch (e) {
      if (!ctl.signal.aborted) console.error('poll:', e);
    }
    if (!ctl.signal.aborted) timer = setTimeout(run, ms);
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
