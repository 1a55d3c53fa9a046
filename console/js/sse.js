// SPDX-License-Identifier: Apache-2.0
// Server-Sent Events over fetch(): EventSource cannot send the token.

import { send } from './api.js';

const FIRST_DELAY_MS = 1000;
const MAX_DELAY_MS = 30000;
// The daemon sends a keepalive every 15 s; three missed means the
// connection is dead even if TCP has not noticed (a sleeping laptop, NAT).
const SILENCE_MS = 45000;

/**
 * A line parser for text/event-stream (the WHATWG rules that matter here:
 * any of CRLF, LF, CR ends a line; a blank line dispatches; ':' starts a
 * comment; one optional space after the field's colon).
 */
export function sseParser({ onEvent, onComment }) {
  let buf = '';
  let event = '';
  let data = [];
  function line(l) {
    if (l === '') {
      if (data.length) onEvent(event || 'message', data.join('\n'));
      event = '';
      data = [];
    } else if (l[0] === ':') {
      onComment?.(l.slice(1).trim());
    } else {
      const c = l.indexOf(':');
      const field = c < 0 ? l : l.slice(0, c);
      let value = c < 0 ? '' : l.slice(c + 1);
      if (value[0] === ' ') value = value.slice(1);
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
  }
  let skipLF = false; // the last character was CR: a LF next ends no line
  return (chunk) => {
    buf += chunk;
    let start = 0;
    for (let i = 0; i < buf.length; i++) {
      const c = buf[i];
      if (c === '\n' && skipLF) {
        start = i + 1;
      } else if (c === '\r' || c === '\n') {
        line(buf.slice(start, i));
        start = i + 1;
      }
      skipLF = c === '\r';
    }
    buf = buf.slice(start);
  };
}

/**
 * Reads `path` until closed, reconnecting with exponential backoff (and
 * jitter, so that a restarted daemon is not met by every console at once).
 * onState(state, detail): 'connecting', 'live' or 'reconnecting'.
 * Returns close().  A 401 stops it: api.js has ended the session by then.
 */
export function openEventStream(path, { onEvent, onComment, onState }) {
  const outer = new AbortController();
  const sleep = (ms) => new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    outer.signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });

  async function readOnce(opened) {
    // one signal for both (by hand: AbortSignal.any is recent)
    const silence = new AbortController();
    const stop = () => silence.abort();
    outer.signal.addEventListener('abort', stop, { once: true });
    const signal = silence.signal;
    let timer = setTimeout(() => silence.abort(), SILENCE_MS);
    try {
      const res = await send('GET', path, { signal, accept: 'text/event-stream' });
      opened();
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      const feed = sseParser({ onEvent, onComment });
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return 'the gateway closed the stream';
        clearTimeout(timer);
        timer = setTimeout(() => silence.abort(), SILENCE_MS);
        feed(value);
      }
    } catch (e) {
      if (silence.signal.aborted && !outer.signal.aborted) return 'no data for 45 s';
      throw e;
    } finally {
      // whatever ended it (a throw in a handler too), the request goes:
      // an open one would hold one of the daemon's stream slots
      clearTimeout(timer);
      outer.signal.removeEventListener('abort', stop);
      silence.abort();
    }
  }

  (async () => {
    let delay = FIRST_DELAY_MS;
    onState('connecting');
    while (!outer.signal.aborted) {
      let why;
      try {
        why = await readOnce(() => {
          delay = FIRST_DELAY_MS; // only a stream that opened resets it
          onState('live');
        });
      } catch (e) {
        if (outer.signal.aborted || e.status === 401) return;
        why = e.message;
      }
      if (outer.signal.aborted) return;
      const wait = delay / 2 + Math.random() * delay / 2;
      onState('reconnecting', `${why}; retrying in ${Math.round(wait / 1000)} s`);
      await sleep(wait);
      delay = Math.min(delay * 2, MAX_DELAY_MS);
    }
  })();

  return () => outer.abort();
}
