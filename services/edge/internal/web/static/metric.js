// Metric: any metric over a range of days, combined (the daily summaries:
// each moment counted once across sources) or per source (the points as
// stored), zoomable; heart rate with its min/avg/max band; the range's
// points as CSV.
import uPlot from './uPlot.esm.js';
import { h, replace, num, wall, today, addDays, validDay, dayStart, message, field, table, save } from './dom.js';
import { all } from './api.js';
import { timeChart } from './charts.js';
import { daily } from './daily.js';

// Metrics offered in the list (any other name, or alias, can be typed).
const COMMON = ['heart_rate', 'step_count', 'active_energy', 'basal_energy_burned', 'apple_exercise_time', 'apple_stand_time',
  'resting_heart_rate', 'walking_heart_rate_average', 'heart_rate_variability', 'blood_oxygen_saturation', 'respiratory_rate',
  'walking_running_distance', 'flights_climbed', 'vo2_max', 'weight_body_mass', 'body_fat_percentage', 'blood_pressure',
  'blood_glucose', 'dietary_water', 'mindful_minutes', 'time_in_daylight'];
const RANGES = [[1, '1 day'], [7, '7 days'], [30, '30 days'], [90, '90 days'], [365, '1 year']];
// Per-source points are read for at most this many days (minute-level
// data: 1,440 points a day and source).
const MAX_RAW_DAYS = 31;
const TABLE_ROWS = 100;

export async function render(main, route, ctx) {
  const p = route.params;
  const name = (p.get('name') || 'heart_rate').trim();
  const to = validDay(p.get('to')) ? p.get('to') : today();
  const days = RANGES.some(([d]) => String(d) === p.get('days')) ? Number(p.get('days')) : 7;
  const mode = p.get('mode') === 'source' || p.get('mode') === 'combined' ? p.get('mode') : days <= 2 ? 'source' : 'combined';
  const from = addDays(to, -(days - 1));
  const go = (change) => ctx.go('metric', { name, to, days, mode, ...change });

  const nameInput = h('input', { type: 'text', list: 'metric-names', value: name, autocapitalize: 'off', spellcheck: 'false' });
  const form = h('form.controls', { 'aria-label': 'Choose the metric and range' },
    field('Metric', nameInput),
    h('datalist', { id: 'metric-names' }, COMMON.map((m) => h('option', { value: m }))),
    field('Up to', h('input', { type: 'date', value: to, max: today(), onchange: (e) => validDay(e.target.value) && go({ to: e.target.value }) })),
    field('Range', h('select', { onchange: (e) => go({ days: e.target.value }) },
      RANGES.map(([d, label]) => h('option', { value: d, selected: d === days }, label)))),
    field('Sources', h('select', { onchange: (e) => go({ mode: e.target.value }) },
      h('option', { value: 'combined', selected: mode === 'combined' }, 'Combined (daily)'),
      h('option', { value: 'source', selected: mode === 'source' }, 'Per source (every point)'))),
    h('button', { type: 'submit' }, 'Show'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    go({ name: nameInput.value.trim() });
  });
  const chart = h('div.chart-card');
  const below = h('div');
  const csv = h('button', { type: 'button', onclick: () => download(name, from, to, csv) }, 'Download the range as CSV');
  replace(main, h('h1', { tabindex: -1 }, `Metric: ${name}`), form, h('p', {}, csv), chart, below);

  const destroy = mode === 'source' ? await perSource(chart, below, name, from, to, days, ctx) : await combined(chart, below, name, from, to, ctx);
  ctx.ready();
  return destroy;
}

// combined draws the daily summaries: totals as bars, other metrics as
// their daily average within the min–max band.
async function combined(chart, below, name, from, to, ctx) {
  const res = await daily([name], from, addDays(to, 1));
  if (!ctx.alive()) return null;
  if (!res.days.length) {
    replace(chart, message(`No ${name} between ${from} and ${to}.`));
    return null;
  }
  const xs = res.days.map((d) => Date.parse(`${d.date}T12:00:00`) / 1000);
  const units = res.days[0].units || '';
  const cumulative = res.days.some((d) => d.total !== undefined && d.total !== null);
  let destroy;
  if (cumulative) {
    destroy = timeChart(chart, [xs, res.days.map((d) => d.total)], [{ label: `${name} per day`, kind: 'bars' }], { units });
  } else {
    destroy = timeChart(chart, [xs, res.days.map((d) => d.min), res.days.map((d) => d.avg), res.days.map((d) => d.max)],
      [{ label: 'min', kind: 'band-lo' }, { label: 'average', kind: 'line' }, { label: 'max', kind: 'band-hi' }], { units });
  }
  const cols = [['Day', (d) => d.date]];
  if (cumulative) cols.push(['Total', (d) => num(d.total, 2)]);
  else cols.push(['Min', (d) => num(d.min, 2)], ['Average', (d) => num(d.avg, 2)], ['Max', (d) => num(d.max, 2)], ['Readings', (d) => num(d.count)]);
  cols.push(['Units', (d) => d.units || ''], ['Sources', (d) => (d.sources || []).join(', ')]);
  replace(below, table(`${name} per day`, cols, [...res.days].reverse()));
  return destroy;
}

// pointValue is a stored point's main value: qty, or a heart rate's average.
function pointValue(pt) {
  if (pt.qty !== undefined) return pt.qty;
  if (pt.avg_bpm !== undefined) return pt.avg_bpm;
  if (pt.systolic !== undefined) return pt.systolic;
  return null;
}

// perSource draws every stored point, one series per source (heart rate:
// average with its min–max band; blood pressure: systolic and diastolic).
async function perSource(chart, below, name, from, to, days, ctx) {
  if (days > MAX_RAW_DAYS) {
    replace(chart, message(`Per source, at most ${MAX_RAW_DAYS} days are drawn: choose a shorter range, or Combined.`));
    return null;
  }
  const res = await all(`/v1/metrics/${encodeURIComponent(name)}`, { from: dayStart(from), to: dayStart(addDays(to, 1)), limit: 10000 }, ['points']);
  if (!ctx.alive()) return null;
  const pts = res.points;
  if (!pts.length) {
    replace(chart, message(`No ${name} between ${from} and ${to}.`));
    return null;
  }
  const units = res.head.units || '';
  const bySource = new Map();
  for (const pt of pts) {
    if (!bySource.has(pt.source)) bySource.set(pt.source, []);
    bySource.get(pt.source).push(pt);
  }
  const tables = [];
  const series = [];
  const label = (src) => src || '(no source)';
  for (const [src, list] of bySource) {
    const xs = list.map((pt) => Date.parse(pt.recorded_at) / 1000);
    if (list[0].avg_bpm !== undefined) {
      tables.push([xs, list.map((pt) => pt.min_bpm), list.map((pt) => pt.avg_bpm), list.map((pt) => pt.max_bpm)]);
      series.push({ label: `${label(src)} min`, kind: 'band-lo' }, { label: `${label(src)} average`, kind: 'line' }, { label: `${label(src)} max`, kind: 'band-hi' });
    } else if (list[0].systolic !== undefined) {
      tables.push([xs, list.map((pt) => pt.systolic), list.map((pt) => pt.diastolic)]);
      series.push({ label: `${label(src)} systolic`, kind: 'line' }, { label: `${label(src)} diastolic`, kind: 'line' });
    } else {
      tables.push([xs, list.map(pointValue)]);
      series.push({ label: label(src), kind: 'line' });
    }
  }
  const data = tables.length === 1 ? tables[0] : uPlot.join(tables);
  const destroy = timeChart(chart, data, series, { units });
  const latest = pts.slice(-TABLE_ROWS).reverse();
  const cols = [['Time (as recorded)', (pt) => wall(pt.recorded_at)], ['Source', (pt) => label(pt.source)]];
  if (pts[0].avg_bpm !== undefined) cols.push(['Min', (pt) => num(pt.min_bpm, 2)], ['Average', (pt) => num(pt.avg_bpm, 2)], ['Max', (pt) => num(pt.max_bpm, 2)]);
  else if (pts[0].systolic !== undefined) cols.push(['Systolic', (pt) => num(pt.systolic)], ['Diastolic', (pt) => num(pt.diastolic)]);
  else cols.push(['Value', (pt) => num(pointValue(pt), 2)], ['Units', (pt) => pt.units || units]);
  replace(below,
    res.truncated ? message('The range holds more points than are drawn: choose a shorter range.', 'error') : null,
    h('p.muted', {}, `${num(pts.length)} points from ${bySource.size} source${bySource.size === 1 ? '' : 's'}: ${[...bySource.keys()].map(label).join(', ')}`),
    table(`The latest ${latest.length} points`, cols, latest));
  return destroy;
}

// download writes the range's stored points as CSV.
async function download(name, from, to, button) {
  button.disabled = true;
  const was = button.textContent;
  button.textContent = 'Preparing the CSV…';
  try {
    const res = await all(`/v1/metrics/${encodeURIComponent(name)}`, { from: dayStart(from), to: dayStart(addDays(to, 1)), limit: 10000 }, ['points'], { maxPages: 1000 });
    const cols = [];
    for (const pt of res.points.slice(0, 1000)) for (const k of Object.keys(pt)) if (!cols.includes(k)) cols.push(k);
    const lines = [cols.join(',')];
    for (const pt of res.points) lines.push(cols.map((c) => csvCell(pt[c])).join(','));
    save(`${name}-${from}-${to}.csv`, new Blob([`${lines.join('\r\n')}\r\n`], { type: 'text/csv' }));
  } finally {
    button.disabled = false;
    button.textContent = was;
  }
}

// csvCell quotes a value; text a spreadsheet would run as a formula gets a
// leading ' (numbers, -3.5 included, are left alone), as the API's export does.
export function csvCell(v) {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return String(v);
  let s = typeof v === 'object' ? JSON.stringify(v) : String(v);
  if (/^[=+\-@\t\r]/.test(s) && !/^[+-]?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

