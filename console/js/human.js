// SPDX-License-Identifier: Apache-2.0
// Ages and wall-clock times as people read them (peers, services,
// audit pages).

import { h } from './dom.js';

/** A span of seconds, coarsely: "12 s", "4 min", "3 h", "2 d". */
export function span(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h`;
  return `${Math.floor(s / 86400)} d`;
}

/**
 * A span of seconds in its two largest units, to the second: 75 →
 * "1m 15s", 90000 → "1d 1h" (a flow's age, where span() is too coarse).
 */
export function duration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return '—';
  const s = Math.floor(seconds);
  const parts = [[86400, 'd'], [3600, 'h'], [60, 'm'], [1, 's']];
  for (let i = 0; i < parts.length - 1; i++) {
    const [size, unit] = parts[i];
    if (s >= size) {
      const [next, nextUnit] = parts[i + 1];
      return `${Math.floor(s / size)}${unit} ${Math.floor((s % size) / next)}${nextUnit}`;
    }
  }
  return `${s}s`;
}

/** Seconds from date until now; never negative (clocks drift apart). */
export function secondsSince(date, now = Date.now()) {
  return Math.max(0, (now - date.getTime()) / 1000);
}

/** The daemon's epoch seconds (time(), 0 meaning never) as a Date or null. */
export function fromUnix(sec) {
  return Number.isFinite(sec) && sec > 0 ? new Date(sec * 1000) : null;
}

/** The store's "2026-11-22T01:40:02Z" as a Date, or null if it is not one. */
export function fromIso(text) {
  const d = typeof text === 'string' ? new Date(text) : null;
  return d && Number.isFinite(d.getTime()) ? d : null;
}

const sameDay = new Intl.DateTimeFormat([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
const otherDay = new Intl.DateTimeFormat([], {
  year: 'numeric', month: 'short', day: 'numeric',
  hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false,
});

/** Local time: the clock alone today, with the date otherwise. */
export function localTime(date, now = new Date()) {
  return (date.toDateString() === now.toDateString() ? sameDay : otherDay).format(date);
}

/**
 * A <time> with the local time and, under it, how long ago; the title
 * holds the exact UTC instant.  null → "never".
 */
export function timeCell(date, now = new Date()) {
  if (!date) return h('span', { class: 'muted' }, 'never');
  return h('time', { datetime: date.toISOString(), title: date.toISOString(), class: 'when' },
    h('span', { class: 'nowrap' }, localTime(date, now)),
    h('span', { class: 'muted small nowrap' }, `${span(secondsSince(date, now.getTime()))} ago`));
}
