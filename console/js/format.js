// SPDX-License-Identifier: Apache-2.0
// Number, rate, address and time formatting shared by the pages.

const integer = new Intl.NumberFormat('en');
const compactRate = new Intl.NumberFormat('en', { notation: 'compact', maximumFractionDigits: 1 });
const compact3 = new Intl.NumberFormat('en', { notation: 'compact', maximumSignificantDigits: 3 });

/** 1234567 → "1,234,567". */
export function count(n) {
  return Number.isFinite(n) ? integer.format(n) : '—';
}

/** 1234.5 → "1.2K"; small rates keep one decimal so 0.5 pps is not 1. */
export function rate(n) {
  if (!Number.isFinite(n)) return '—';
  return n < 10 ? n.toFixed(1).replace(/\.0$/, '') : compactRate.format(n);
}

/** 1234567 → "1.23M": a counter at a glance (pair it with count() in a title). */
export function compact(n) {
  return Number.isFinite(n) ? compact3.format(n) : '—';
}

const UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];

/** Bytes in decimal (SI) units: 1234 → "1.2 kB". */
export function bytes(n) {
  if (!Number.isFinite(n)) return '—';
  let i = 0;
  while (n >= 1000 && i < UNITS.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n < 10 && i ? n.toFixed(1) : Math.round(n)} ${UNITS[i]}`;
}

export function bytesRate(n) {
  return Number.isFinite(n) ? `${bytes(n)}/s` : '—';
}

/** An address with its port, bracketed when IPv6 so the port is clear. */
export function endpoint(addr, port, proto) {
  const a = String(addr ?? '?');
  if (proto !== 'tcp' && proto !== 'udp') return a;
  return `${a.includes(':') ? `[${a}]` : a}:${port ?? '?'}`;
}

/** ICMP carries type and code where TCP and UDP carry the port. */
export function protoLabel(proto, dport) {
  if ((proto === 'icmp' || proto === 'icmpv6') && Number.isInteger(dport)) {
    return `${proto} ${dport >> 8}/${dport & 255}`;
  }
  return String(proto ?? '?');
}

export function clock(date) {
  return date.toLocaleTimeString([], { hour12: false });
}
