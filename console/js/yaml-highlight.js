// SPDX-License-Identifier: Apache-2.0
// A small YAML tokenizer for highlighting: good enough to colour a policy,
// not a parser.  Lines become DOM spans built from text nodes, never HTML.

const FLOW = ',[]{}';
const NUMBER = /^(?:[-+]?(?:\d[\d_]*)(?:\.\d*)?(?:[eE][-+]?\d+)?|[-+]?\.\d+|0x[\da-fA-F]+|0o[0-7]+|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/;
const BOOL = /^(?:true|True|TRUE|false|False|FALSE)$/;
const NULL = /^(?:null|Null|NULL|~)$/;

const isSpace = (ch) => ch === ' ' || ch === '\t';

/** The class of a plain (unquoted) scalar used as a value. */
function plainClass(text) {
  if (NUMBER.test(text)) return 'num';
  if (BOOL.test(text)) return 'bool';
  if (NULL.test(text)) return 'null';
  return 'plain';
}

/** The index just past a quoted string starting at i, and whether it closed. */
function scanQuoted(line, i, q) {
  let j = i;
  while (j < line.length) {
    const ch = line[j];
    if (q === '"' && ch === '\\') {
      j += 2;
    } else if (ch === q) {
      // '' inside single quotes is an escaped quote
      if (q === "'" && line[j + 1] === "'") j += 2;
      else return { end: j + 1, closed: true };
    } else {
      j++;
    }
  }
  return { end: line.length, closed: false };
}

/** The index just past a plain scalar starting at i (trailing spaces not in it). */
function scanPlain(line, i, flow) {
  let j = i;
  while (j < line.length) {
    const ch = line[j];
    const next = line[j + 1];
    if (flow && FLOW.includes(ch)) break;
    if (ch === ':' && (next === undefined || isSpace(next) || (flow && FLOW.includes(next)))) break;
    if (ch === '#' && j > i && isSpace(line[j - 1])) break;
    j++;
  }
  while (j > i && isSpace(line[j - 1])) j--;
  return j;
}

/** Is the scalar ending at j a mapping key (a ':' indicator follows)? */
function keyFollows(line, j, flow) {
  let k = j;
  while (k < line.length && isSpace(line[k])) k++;
  if (line[k] !== ':') return false;
  const next = line[k + 1];
  return next === undefined || isSpace(next) || (flow > 0 && FLOW.includes(next));
}

/**
 * One line's tokens, [class, text] with class null for plain text; st
 * carries what spans lines: flow depth, an open quote, a block scalar.
 */
function lineTokens(line, st) {
  const out = [];
  const push = (cls, text) => {
    if (!text) return;
    const last = out[out.length - 1];
    if (last && last[0] === cls) last[1] += text;
    else out.push([cls, text]);
  };
  let indent = 0;
  while (indent < line.length && line[indent] === ' ') indent++;

  if (st.block >= 0) {
    // a block scalar goes on while lines are blank or indented deeper
    if (line.trim() === '' || indent > st.block) {
      push(null, line.slice(0, indent));
      push('str', line.slice(indent));
      return out;
    }
    st.block = -1;
  }
  let i = 0;
  if (st.quote) {
    const { end, closed } = scanQuoted(line, 0, st.quote);
    push('str', line.slice(0, end));
    if (closed) st.quote = null;
    i = end;
  } else if (st.flow === 0) {
    if (line[0] === '%') {
      push('comment', line);
      return out;
    }
    if (/^(?:---|\.\.\.)(?:\s|$)/.test(line)) {
      push('punct', line.slice(0, 3));
      i = 3;
    }
  }
  let nodeStart = true; // where '-', '?', '|' and '>' are indicators
  let owner = indent; // the column a block scalar's content must exceed
  while (i < line.length) {
    const ch = line[i];
    const next = line[i + 1];
    const endsWord = next === undefined || isSpace(next);
    if (isSpace(ch)) {
      let j = i;
      while (j < line.length && isSpace(line[j])) j++;
      push(null, line.slice(i, j));
      i = j;
    } else if (ch === '#' && (i === 0 || isSpace(line[i - 1]))) {
      push('comment', line.slice(i));
      break;
    } else if (st.flow === 0 && nodeStart && (ch === '-' || ch === '?') && endsWord) {
      push('punct', ch);
      owner = i;
      i++;
    } else if (ch === '[' || ch === '{') {
      push('punct', ch);
      st.flow++;
      nodeStart = true;
      i++;
    } else if (ch === ']' || ch === '}') {
      push('punct', ch);
      st.flow = Math.max(0, st.flow - 1);
      i++;
    } else if (ch === ',' && st.flow > 0) {
      push('punct', ch);
      nodeStart = true;
      i++;
    } else if (ch === ':' && (endsWord || (st.flow > 0 && FLOW.includes(next)))) {
      push('punct', ch);
      nodeStart = true;
      i++;
    } else if (ch === '"' || ch === "'") {
      const { end, closed } = scanQuoted(line, i + 1, ch);
      if (!closed) st.quote = ch;
      const key = closed && keyFollows(line, end, st.flow);
      if (key) owner = i;
      push(key ? 'key' : 'str', line.slice(i, end));
      nodeStart = false;
      i = end;
    } else if (ch === '&' || ch === '*' || ch === '!') {
      let j = i + 1;
      while (j < line.length && !isSpace(line[j]) && !(st.flow > 0 && FLOW.includes(line[j]))) j++;
      push(ch === '!' ? 'tag' : 'anchor', line.slice(i, j));
      i = j;
    } else if ((ch === '|' || ch === '>') && st.flow === 0 && nodeStart) {
      const m = /^[|>][-+0-9]*/.exec(line.slice(i));
      push('punct', m[0]);
      i += m[0].length;
      // only a header alone on its line (or before a comment) opens a block
      if (/^\s*(?:#.*)?$/.test(line.slice(i))) st.block = owner;
    } else {
      const end = Math.max(scanPlain(line, i, st.flow > 0), i + 1);
      const text = line.slice(i, end);
      const key = keyFollows(line, end, st.flow);
      if (key) owner = i;
      push(key ? 'key' : plainClass(text), text);
      nodeStart = false;
      i = end;
    }
  }
  return out;
}

/**
 * tokenizeYaml(source) → one array of [class, text] per line; class is
 * key, str, num, bool, null, plain, comment, punct, anchor, tag or null.
 * The texts of a line join back to the line exactly.
 */
export function tokenizeYaml(source) {
  const st = { flow: 0, quote: null, block: -1 };
  return String(source ?? '').split(/\r?\n/).map((line) => lineTokens(line, st));
}

/**
 * One line as <span class="line" data-line="n">: a span per token
 * (tok-key, tok-str, ...); plain scalars, unstyled, stay text.
 */
export function lineElement(tokens, n) {
  const el = document.createElement('span');
  el.className = 'line';
  el.setAttribute('data-line', String(n));
  for (const [cls, text] of tokens) {
    if (cls && cls !== 'plain') {
      const s = document.createElement('span');
      s.className = `tok-${cls}`;
      s.appendChild(document.createTextNode(text));
      el.appendChild(s);
    } else {
      el.appendChild(document.createTextNode(text));
    }
  }
  el.appendChild(document.createTextNode('\n')); // a copy keeps its line breaks
  return el;
}

const CHUNK = 100; // lines per block that the browser may skip laying out

/**
 * Fills `pre` with the highlighted source: span.chunk blocks of 100
 * span.line elements (data-line="N"); the stylesheet gives the chunks
 * content-visibility: auto, so a 2,000-line policy lays out only what is
 * in view.  --digits on pre sizes the line numbers.  Returns the line count.
 */
export function renderYaml(pre, source) {
  const lines = tokenizeYaml(source);
  // a final newline does not make a line of its own
  if (lines.length > 1 && lines[lines.length - 1].length === 0) lines.pop();
  const frag = document.createDocumentFragment();
  let chunk = null;
  lines.forEach((tokens, i) => {
    if (i % CHUNK === 0) {
      chunk = document.createElement('span');
      chunk.className = 'chunk';
      frag.appendChild(chunk);
    }
    chunk.appendChild(lineElement(tokens, i + 1));
  });
  pre.replaceChildren(frag);
  pre.style.setProperty('--digits', String(String(lines.length).length));
  return lines.length;
}
