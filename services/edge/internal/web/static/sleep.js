// Sleep: each night's stage segments as a hypnogram (one per source that
// recorded the night), and the stage totals per night from the daily
// summaries (one source per night, so nothing is counted twice).
import { h, replace, hours, today, addDays, validDay, dayStart, message, field, table } from './dom.js';
import { all } from './api.js';
import { hypnogram } from './charts.js';
import { daily } from './daily.js';
import { STAGES, stageBar } from './overview.js';

const SPANS = [[7, '7 nights'], [14, '14 nights'], [30, '30 nights']];

// nightOf is the night a segment belongs to: the calendar day (as
// recorded) of its end, pushed 6 hours on, so that an evening segment
// belongs to the morning after.
export function nightOf(t) {
  const [y, mo, d, hh, mm] = t.slice(0, 16).split(/[-T:]/).map(Number);
  const w = new Date(Date.UTC(y, mo - 1, d, hh + 6, mm));
  return w.toISOString().slice(0, 10);
}

export async function render(main, route, ctx) {
  const to = validDay(route.params.get('to')) ? route.params.get('to') : today();
  const nights = SPANS.some(([n]) => String(n) === route.params.get('nights')) ? Number(route.params.get('nights')) : 7;
  const from = addDays(to, -(nights - 1));
  const go = (change) => ctx.go('sleep', { to, nights, ...change });
  const [segs, sums] = await Promise.all([
    // Segments of the evening before the first night too.
    all('/v1/sleep', { type: 'segments', from: dayStart(addDays(from, -1)), to: dayStart(addDays(to, 1)), limit: 10000 }, ['segments']),
    daily(['sleep'], from, addDays(to, 1)),
  ]);
  if (!ctx.alive()) return;

  const groups = new Map(); // night -> source -> segments
  for (const g of segs.segments) {
    const n = nightOf(g.ended_at);
    if (n < from || n > to) continue;
    if (!groups.has(n)) groups.set(n, new Map());
    const bySource = groups.get(n);
    if (!bySource.has(g.source)) bySource.set(g.source, []);
    bySource.get(g.source).push(g);
  }
  const summary = Object.fromEntries(sums.days.map((d) => [d.date, d]));
  const nightList = [...new Set([...groups.keys(), ...Object.keys(summary)])].sort().reverse();

  const controls = h('div.controls', {},
    field('Up to the night of', h('input', { type: 'date', value: to, max: today(), onchange: (e) => validDay(e.target.value) && go({ to: e.target.value }) })),
    field('Nights', h('select', { onchange: (e) => go({ nights: e.target.value }) }, SPANS.map(([n, label]) => h('option', { value: n, selected: n === nights }, label)))));
  const sections = nightList.map((n) => {
    const sum = summary[n];
    const bySource = groups.get(n) || new Map();
    return h('section.night', { 'aria-labelledby': `night-${n}` },
      h('h2', { id: `night-${n}` }, `Night to ${n}`),
      sum ? [h('p', {}, `Asleep ${hours(sum.asleep_hours)}`, sum.in_bed_hours ? `, in bed ${hours(sum.in_bed_hours)}` : ''), stageBar(sum)] : null,
      [...bySource].map(([src, list]) => h('figure', {},
        hypnogram(list, `Sleep stages of the night to ${n}, from ${src || 'no source'}: ${describeNight(list)}`),
        h('figcaption.muted', {}, `Stages from ${src || '(no source)'}`))),
      bySource.size === 0 ? h('p.muted', {}, 'No stage segments for this night (only totals).') : null);
  });
  const totals = table('Stage totals per night', [
    ['Night', (d) => d.date],
    ['Asleep', (d) => hours(d.asleep_hours)],
    ...STAGES.map(([k, label]) => [label, (d) => hours(d[k])]),
    ['In bed', (d) => hours(d.in_bed_hours)],
    ['Source', (d) => (d.sources || []).join(', ')],
  ], [...sums.days].reverse());

  replace(main, h('h1', { tabindex: -1 }, 'Sleep'), controls,
    nightList.length ? [sections, totals] : message(`No sleep recorded between ${from} and ${to}.`));
  ctx.ready();
}

function describeNight(list) {
  const total = {};
  for (const g of list) total[g.stage] = (total[g.stage] || 0) + (Date.parse(g.ended_at) - Date.parse(g.started_at)) / 3.6e6;
  return Object.entries(total).map(([k, v]) => `${k} ${hours(v)}`).join(', ');
}
