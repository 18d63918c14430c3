// Daily figures for the pages: GET /v1/summaries/daily when the edge has
// it (each moment counted once across sources, kept by the writers), else
// worked out here from the metric lists and sleep sessions, with one source
// per day and metric (the one with the most), so that a Watch and an
// iPhone counting the same steps are not added up. Both give the same
// shape: {days: [{date, metric, units, sources, total | min, avg, max,
// count | asleep_hours, ...}], truncated}.
import { all } from './api.js';
import { addDays, dayStart } from './dom.js';

// Summed per day when worked out here (the registry's cumulative metrics
// the pages show); any other metric is min/avg/max.
const CUMULATIVE = new Set(['step_count', 'active_energy', 'basal_energy_burned', 'apple_exercise_time', 'apple_stand_time',
  'walking_running_distance', 'cycling_distance', 'swimming_distance', 'flights_climbed', 'dietary_water', 'dietary_energy',
  'mindful_minutes', 'time_in_daylight', 'stand_hours', 'apple_move_time', 'swimming_stroke_count', 'push_count']);
const NIGHT = ['asleep_hours', 'core_hours', 'deep_hours', 'rem_hours', 'awake_hours', 'in_bed_hours'];

// hasSummaries: unknown until the first request, then whether the edge
// answers /v1/summaries/daily (an older edge says 404).
let hasSummaries;

// daily returns the days in [from, to) (local dates) of each metric
// ('sleep' for nights).
export async function daily(metrics, from, to) {
  if (hasSummaries !== false) {
    try {
      const res = await all('/v1/summaries/daily', { metric: metrics, from, to, limit: 1000 }, ['days']);
      hasSummaries = true;
      return res;
    } catch (err) {
      if (err.status !== 404) throw err;
      hasSummaries = false;
    }
  }
  const lists = await Promise.all(metrics.map((m) => (m === 'sleep' ? nights(from, to) : days(m, from, to))));
  return { days: lists.flatMap((l) => l.days), truncated: lists.some((l) => l.truncated) };
}

// The local date a point was recorded on: its own offset's calendar day.
const dateOf = (t) => t.slice(0, 10);

// days works out one metric's days from its points.
async function days(metric, from, to) {
  // A day before and after: the points' own offsets may differ from this
  // browser's.
  const res = await all(`/v1/metrics/${encodeURIComponent(metric)}`, { from: dayStart(addDays(from, -1)), to: dayStart(addDays(to, 1)), limit: 10000 }, ['points']);
  const byDay = new Map(); // date -> source -> points
  for (const pt of res.points) {
    const d = dateOf(pt.recorded_at);
    if (d < from || d >= to) continue;
    if (!byDay.has(d)) byDay.set(d, new Map());
    const bySource = byDay.get(d);
    if (!bySource.has(pt.source)) bySource.set(pt.source, []);
    bySource.get(pt.source).push(pt);
  }
  const out = [];
  for (const [date, bySource] of [...byDay].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (CUMULATIVE.has(metric)) {
      // The source with the largest total stands for the day.
      let best = null;
      for (const [src, pts] of bySource) {
        const total = pts.reduce((a, p) => a + (p.qty || 0), 0);
        if (!best || total > best.total) best = { src, total, units: pts[0].units };
      }
      out.push({ date, metric, units: best.units || '', sources: [best.src], total: best.total });
      continue;
    }
    let min = Infinity;
    let max = -Infinity;
    let sum = 0;
    let count = 0;
    let units = res.head.units || '';
    for (const pts of bySource.values()) {
      for (const p of pts) {
        const lo = p.min_bpm ?? p.qty;
        const avg = p.avg_bpm ?? p.qty;
        const hi = p.max_bpm ?? p.qty;
        if (avg === null || avg === undefined) continue;
        min = Math.min(min, lo ?? avg);
        max = Math.max(max, hi ?? avg);
        sum += avg;
        count++;
        units ||= p.units || '';
      }
    }
    if (count) out.push({ date, metric, units, sources: [...bySource.keys()], min, avg: sum / count, max, count });
  }
  return { days: out, truncated: res.truncated };
}

// nights works out the nights from the sleep sessions: one source per
// night (the one asleep longest).
async function nights(from, to) {
  const res = await all('/v1/sleep', { type: 'sessions', from: dayStart(addDays(from, -1)), to: dayStart(addDays(to, 1)), limit: 1000 }, ['sessions']);
  const byNight = new Map(); // date -> source -> sum
  for (const s of res.sessions) {
    const d = s.sleep_date;
    if (d < from || d >= to) continue;
    if (!byNight.has(d)) byNight.set(d, new Map());
    const bySource = byNight.get(d);
    const sum = bySource.get(s.source) || Object.fromEntries(NIGHT.map((k) => [k, 0]));
    for (const k of NIGHT) if (k !== 'asleep_hours') sum[k] += s[k] || 0;
    // Asleep in all: the app's total, else unspecified asleep and the stages.
    sum.asleep_hours += s.total_sleep_hours || (s.asleep_hours || 0) + (s.core_hours || 0) + (s.deep_hours || 0) + (s.rem_hours || 0);
    bySource.set(s.source, sum);
  }
  const out = [];
  for (const [date, bySource] of [...byNight].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const [src, sum] = [...bySource].reduce((a, b) => (b[1].asleep_hours > a[1].asleep_hours ? b : a));
    out.push({ date, metric: 'sleep', units: 'hr', sources: [src], ...sum });
  }
  return { days: out, truncated: res.truncated };
}
