// DOM building and formatting. Text from the data is only ever set with
// textContent (or as an attribute value), never parsed as markup: a source
// named like a script element shows as those characters.

const SVG = 'http://www.w3.org/2000/svg';

// h('tag.class', {attr: value, onclick: fn}, ...children): an element.
// Children are nodes or strings (text); null, undefined and false are skipped.
export function h(spec, attrs, ...children) {
  return build(document.createElement.bind(document), spec, attrs, children);
}

// s('rect', {...}): an SVG element, the same way.
export function s(spec, attrs, ...children) {
  return build((tag) => document.createElementNS(SVG, tag), spec, attrs, children);
}

function build(make, spec, attrs, children) {
  const [tag, ...classes] = spec.split('.');
  const el = make(tag || 'div');
  if (classes.length) el.setAttribute('class', classes.join(' '));
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value' && 'value' in el) el.value = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// replace empties el and appends children.
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// Numbers and units.
const nf = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const nf1 = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const nf2 = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });

export function num(v, digits = 0) {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  return (digits === 0 ? nf : digits === 1 ? nf1 : nf2).format(v);
}

// hours as "7 h 05 min".
export function hours(v) {
  if (v === null || v === undefined) return '–';
  const m = Math.round(v * 60);
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return '–';
  const m = Math.round(seconds / 60);
  return m < 60 ? `${m} min` : `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

export function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${nf1.format(n / 1024)} KiB`;
  if (n < 1 << 30) return `${nf1.format(n / (1 << 20))} MiB`;
  return `${nf2.format(n / (1 << 30))} GiB`;
}

// Times. The API writes each time in the offset it was recorded in; the
// page shows it as recorded (its own wall-clock digits), so a trip's
// evening stays an evening.
export function wall(t) {
  if (!t) return '–';
  return `${t.slice(0, 10)} ${t.slice(11, 16)}`;
}

export function clock(t) {
  return t ? t.slice(11, 16) : '–';
}

// Local calendar days as YYYY-MM-DD strings.
export function today() {
  return isoDay(new Date());
}

export function isoDay(d) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

export function addDays(day, n) {
  const [y, m, d] = day.split('-').map(Number);
  return isoDay(new Date(y, m - 1, d + n));
}

export function validDay(day) {
  return /^\d{4}-\d{2}-\d{2}$/.test(day || '') && isoDay(new Date(`${day}T12:00:00`)) === day;
}

// The start of a local day as an RFC 3339 time in this browser's offset.
export function dayStart(day) {
  const [y, m, d] = day.split('-').map(Number);
  const t = new Date(y, m - 1, d);
  const off = -t.getTimezoneOffset();
  const sign = off < 0 ? '-' : '+';
  const p = (n) => String(Math.floor(Math.abs(n))).padStart(2, '0');
  return `${day}T00:00:00${sign}${p(off / 60)}:${p(off % 60)}`;
}

// A labelled field: the label wraps the control, so screen readers name it.
export function field(label, control, hint) {
  return h('label.field', {}, h('span.label', {}, label), control, hint ? h('span.hint', {}, hint) : null);
}

// status(el, text, kind): a message in a live region.
export function message(text, kind = 'info') {
  return h(`p.msg.${kind}`, { role: kind === 'error' ? 'alert' : 'status' }, text);
}

// A table from rows: columns are [header, cell(row)] pairs.
export function table(caption, columns, rows, attrs = {}) {
  return h('div.table-wrap', { tabindex: 0, role: 'region', 'aria-label': caption },
    h('table', attrs,
      h('caption', {}, caption),
      h('thead', {}, h('tr', {}, columns.map(([head]) => h('th', { scope: 'col' }, head)))),
      h('tbody', {}, rows.map((r) => h('tr', {}, columns.map(([, cell]) => h('td', {}, cell(r))))))));
}

// save offers bytes as a file download (the API needs the key in a header,
// so a plain link cannot fetch it).
export function save(name, blob) {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
