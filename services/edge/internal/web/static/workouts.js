// Workouts: the list of a period, newest first, and one workout with its
// heart rate over time and its route drawn as an SVG path; the route as
// GPX.
import { h, replace, num, wall, duration, today, addDays, validDay, dayStart, message, field, table, save } from './dom.js';
import { all, request, query } from './api.js';
import { timeChart, route as drawRoute } from './charts.js';

const SPANS = [[30, '30 days'], [90, '90 days'], [365, '1 year'], [3650, '10 years']];

export async function render(main, r, ctx) {
  if (r.arg) return one(main, r.arg, ctx);
  const to = validDay(r.params.get('to')) ? r.params.get('to') : today();
  const days = SPANS.some(([d]) => String(d) === r.params.get('days')) ? Number(r.params.get('days')) : 365;
  const go = (change) => ctx.go('workouts', { to, days, ...change });
  const res = await all('/v1/workouts', { from: dayStart(addDays(to, -(days - 1))), to: dayStart(addDays(to, 1)), limit: 1000 }, ['workouts'], { maxPages: 20 });
  if (!ctx.alive()) return;
  const list = [...res.workouts].reverse();
  const controls = h('div.controls', {},
    field('Up to', h('input', { type: 'date', value: to, max: today(), onchange: (e) => validDay(e.target.value) && go({ to: e.target.value }) })),
    field('Period', h('select', { onchange: (e) => go({ days: e.target.value }) }, SPANS.map(([d, label]) => h('option', { value: d, selected: d === days }, label)))));
  replace(main, h('h1', { tabindex: -1 }, 'Workouts'), controls,
    list.length ? table(`${list.length} workouts, newest first`, [
      ['Workout', (w) => h('a', { href: `#/workouts/${encodeURIComponent(w.workout_key)}` }, w.name || 'Workout')],
      ['Started (as recorded)', (w) => wall(w.started_at)],
      ['Duration', (w) => duration(w.duration_s)],
      ['Distance', (w) => (w.distance_m ? `${num(w.distance_m / 1000, 2)} km` : '–')],
      ['Active energy', (w) => (w.active_energy_kcal ? `${num(w.active_energy_kcal)} kcal` : '–')],
      ['Avg heart rate', (w) => (w.avg_heart_rate ? `${num(w.avg_heart_rate)} bpm` : '–')],
    ], list) : message('No workouts in this period.'));
  ctx.ready();
  return null;
}

// one shows a workout: every page of its samples and route is read and
// joined.
async function one(main, key, ctx) {
  const path = `/v1/workouts/${encodeURIComponent(key)}`;
  let w;
  const samples = {};
  const coords = [];
  let cursor;
  for (let i = 0; i < 40; i++) {
    const page = await request(query(path, { limit: 10000, cursor }));
    w ||= page;
    for (const [series, pts] of Object.entries(page.samples || {})) (samples[series] ||= []).push(...pts);
    const g = page.route?.geometry;
    if (g?.type === 'LineString') coords.push(...g.coordinates);
    else if (g?.type === 'Point') coords.push(g.coordinates);
    cursor = page.next;
    if (!cursor) break;
  }
  if (!ctx.alive()) return null;
  const facts = [
    ['Started (as recorded)', wall(w.started_at)],
    ['Ended', wall(w.ended_at)],
    ['Duration', duration(w.duration_s)],
    ['Distance', w.distance_m ? `${num(w.distance_m / 1000, 2)} km` : '–'],
    ['Active energy', w.active_energy_kcal ? `${num(w.active_energy_kcal)} kcal` : '–'],
    ['Total energy', w.total_energy_kcal ? `${num(w.total_energy_kcal)} kcal` : '–'],
    ['Heart rate', w.avg_heart_rate ? `average ${num(w.avg_heart_rate)} bpm, max ${num(w.max_heart_rate)} bpm` : '–'],
  ];
  const gpx = h('button', { type: 'button' }, 'Download the route (GPX)');
  gpx.addEventListener('click', async () => {
    gpx.disabled = true;
    try {
      save(`${(w.name || 'workout').replace(/[^\w.-]+/g, '-')}-${w.started_at.slice(0, 10)}.gpx`, await request(`${path}/route.gpx`, { as: 'blob' }));
    } finally {
      gpx.disabled = false;
    }
  });
  const chart = h('div.chart-card');
  replace(main,
    h('p', {}, h('a', { href: '#/workouts' }, '← All workouts')),
    h('h1', { tabindex: -1 }, w.name || 'Workout'),
    h('div.workout-grid', {},
      h('div', {},
        coords.length > 1 ? [drawRoute(coords, `Route of ${coords.length} points`), h('p', {}, gpx)] : h('p.muted', {}, 'No route recorded.'),
        h('dl.facts', {}, facts.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]))),
      h('div', {}, h('h2', {}, 'Heart rate'), chart)));
  const hr = samples.heartRateData || [];
  let destroy = null;
  if (hr.length) {
    const xs = hr.map((p) => Date.parse(p.recorded_at) / 1000);
    const v = (p, k) => p[k] ?? p.qty ?? null;
    destroy = timeChart(chart, [xs, hr.map((p) => v(p, 'min')), hr.map((p) => v(p, 'avg')), hr.map((p) => v(p, 'max'))],
      [{ label: 'min', kind: 'band-lo' }, { label: 'average', kind: 'line' }, { label: 'max', kind: 'band-hi' }], { units: 'bpm' });
  } else {
    replace(chart, h('p.muted', {}, 'No heart rate recorded during this workout.'));
  }
  ctx.ready();
  return destroy;
}
