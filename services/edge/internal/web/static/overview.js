// Overview: one day's steps, active energy, exercise minutes, resting heart
// rate and HRV, with the 7 and 30 days before it as sparklines, and the
// night's sleep by stage: all from the daily summaries (daily.js).
import { h, replace, num, hours, today, addDays, validDay, message, field } from './dom.js';
import { daily } from './daily.js';
import { sparkline, describe } from './charts.js';

// The cards: metric, title, unit shown, digits.
const CARDS = [
  ['step_count', 'Steps', 'steps', 0],
  ['active_energy', 'Active energy', null, 0],
  ['apple_exercise_time', 'Exercise', 'min', 0],
  ['resting_heart_rate', 'Resting heart rate', 'bpm', 0],
  ['heart_rate_variability', 'Heart rate variability', 'ms', 0],
];

export const STAGES = [
  ['deep_hours', 'Deep', 'bg-deep'],
  ['core_hours', 'Core', 'bg-core'],
  ['rem_hours', 'REM', 'bg-rem'],
  ['awake_hours', 'Awake', 'bg-awake'],
];

// dailyValue is a day's figure: the total of a cumulative metric, else the
// average.
export function dailyValue(d) {
  if (!d) return null;
  if (d.total !== undefined && d.total !== null) return d.total;
  if (d.avg !== undefined && d.avg !== null) return d.avg;
  return null;
}

export async function render(main, route, ctx) {
  const day = validDay(route.params.get('day')) ? route.params.get('day') : today();
  const from = addDays(day, -29);
  const res = await daily([...CARDS.map((c) => c[0]), 'sleep'], from, addDays(day, 1));
  if (!ctx.alive()) return;
  const by = {};
  for (const d of res.days) (by[d.metric] ||= {})[d.date] = d;
  const days = Array.from({ length: 30 }, (_, i) => addDays(from, i));

  const picker = h('input', { type: 'date', value: day, max: today() });
  picker.addEventListener('change', () => validDay(picker.value) && ctx.go('overview', { day: picker.value }));
  const cards = CARDS.map(([metric, title, unit, digits]) => {
    const d = by[metric]?.[day];
    const series = days.map((x) => dailyValue(by[metric]?.[x]));
    const u = unit || d?.units || Object.values(by[metric] || {})[0]?.units || '';
    const fmt = (v) => `${num(v, digits)} ${u}`;
    return h('section.card', { 'aria-labelledby': `card-${metric}` },
      h('h2', { id: `card-${metric}` }, title),
      h('p.value', { 'data-metric': metric }, num(dailyValue(d), digits), h('span.unit', {}, u)),
      d && d.min !== undefined && d.count ? h('p.muted', {}, `min ${num(d.min)} · max ${num(d.max)} · ${num(d.count)} readings`) : null,
      d?.sources?.length ? h('p.sources', {}, `From ${d.sources.join(', ')}`) : h('p.sources', {}, d ? '' : 'No data this day'),
      h('div.sparks', {},
        h('span', {}, '7 days'), sparkline(series.slice(-7), `${title}, last 7 days: ${describe(series.slice(-7), fmt)}`),
        h('span', {}, '30 days'), sparkline(series, `${title}, last 30 days: ${describe(series, fmt)}`)),
      h('p', {}, h('a', { href: `#/metric?name=${metric}&to=${day}&days=30` }, `${title} in detail`)));
  });

  const night = by.sleep?.[day];
  const asleep = days.map((x) => by.sleep?.[x]?.asleep_hours ?? null);
  const sleepCard = h('section.card.wide', { 'aria-labelledby': 'card-sleep' },
    h('h2', { id: 'card-sleep' }, 'Last night’s sleep'),
    night ? [
      h('p.value', { 'data-metric': 'sleep' }, hours(night.asleep_hours), h('span.unit', {}, 'asleep')),
      stageBar(night),
      night.in_bed_hours ? h('p.muted', {}, `In bed ${hours(night.in_bed_hours)}`) : null,
      night.sources?.length ? h('p.sources', {}, `From ${night.sources.join(', ')}`) : null,
    ] : h('p.muted', {}, 'No sleep recorded for this night.'),
    h('div.sparks', {},
      h('span', {}, '7 nights'), sparkline(asleep.slice(-7), `Hours asleep, last 7 nights: ${describe(asleep.slice(-7), hours)}`),
      h('span', {}, '30 nights'), sparkline(asleep, `Hours asleep, last 30 nights: ${describe(asleep, hours)}`)),
    h('p', {}, h('a', { href: `#/sleep?to=${day}` }, 'Sleep in detail')));

  replace(main,
    h('h1', { tabindex: -1 }, 'Overview'),
    h('div.controls', {}, field('Day', picker)),
    res.truncated ? message('Only part of the summaries could be read.', 'error') : null,
    h('div.cards', {}, cards, sleepCard));
  ctx.ready();
}

// stageBar shows a night's stages as proportional segments, with a legend
// that carries the numbers (for screen readers too).
export function stageBar(night) {
  const total = STAGES.reduce((a, [k]) => a + (night[k] || 0), 0);
  return [
    h('div.stagebar', { 'aria-hidden': 'true' },
      total > 0 ? STAGES.map(([k, , cls]) => (night[k] ? grow(h(`span.${cls}`), night[k]) : null)) : null),
    h('ul.legend', {}, STAGES.map(([k, label, cls]) => h('li', {}, h(`span.sw.${cls}`, { 'aria-hidden': 'true' }), `${label} ${hours(night[k] || 0)}`))),
  ];
}

// grow sizes a bar segment through the CSSOM (a style attribute would need
// 'unsafe-inline').
function grow(el, v) {
  el.style.flex = `${v} 0 0`;
  return el;
}
