// Charts: sparklines, hypnograms, routes and QR codes as SVG built here;
// time series with uPlot (zoom by dragging, or with the buttons).
import uPlot from './uPlot.esm.js';
import qrcode from './qrcode.mjs';
import { h, s, num, clock } from './dom.js';

function css(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

// sparkline draws values (nulls are gaps) as a line in a 100×24 box.
export function sparkline(values, label) {
  const known = values.filter((v) => v !== null && v !== undefined);
  const svg = s('svg.spark', { viewBox: '0 0 100 24', preserveAspectRatio: 'none', role: 'img', 'aria-label': label });
  if (known.length === 0) return svg;
  const lo = Math.min(...known);
  const hi = Math.max(...known);
  const y = (v) => (hi === lo ? 12 : 22 - ((v - lo) / (hi - lo)) * 20);
  const x = (i) => (values.length === 1 ? 50 : (i / (values.length - 1)) * 100);
  let d = '';
  let pen = 'M';
  values.forEach((v, i) => {
    if (v === null || v === undefined) {
      pen = 'M';
      return;
    }
    d += `${pen}${x(i).toFixed(2)} ${y(v).toFixed(2)}`;
    pen = 'L';
  });
  svg.append(s('path', { d, 'vector-effect': 'non-scaling-stroke' }));
  const last = values.length - 1;
  if (values[last] !== null && values[last] !== undefined) {
    svg.append(s('circle', { cx: x(last), cy: y(values[last]), r: 1.6 }));
  }
  return svg;
}

// plotWidth is the width inside the container's padding: a chart as wide
// as the container itself would widen it.
function plotWidth(container) {
  const st = getComputedStyle(container);
  const inner = container.clientWidth - parseFloat(st.paddingLeft) - parseFloat(st.paddingRight);
  return Math.max(260, Math.floor(inner) || 600);
}

// timeChart draws series over time with uPlot into a container that also
// holds the zoom buttons. data is [xs (epoch seconds), ...ys]; series are
// {label, kind: 'line'|'band-lo'|'band-hi'|'bars'}. Returns a destroy
// function.
export function timeChart(container, data, series, { title, units } = {}) {
  const palette = [css('--c1'), css('--c2'), css('--c3'), css('--c4'), css('--c5'), css('--c6')];
  const axis = { stroke: css('--fg-muted'), grid: { stroke: css('--grid') }, ticks: { stroke: css('--grid') } };
  const opts = {
    width: plotWidth(container),
    height: 260,
    title,
    cursor: { drag: { x: true, y: false } },
    scales: { x: { time: true } },
    axes: [axis, { ...axis, label: units || '', size: 56 }],
    series: [{}],
    bands: [],
  };
  let colour = 0;
  series.forEach((sr, i) => {
    const c = palette[sr.kind === 'band-lo' || sr.kind === 'band-hi' ? 0 : colour++ % palette.length];
    const base = { label: sr.label, stroke: c, width: 1.5, spanGaps: false, points: { show: data[0].length < 60 } };
    if (sr.kind === 'band-lo' || sr.kind === 'band-hi') {
      opts.series.push({ ...base, width: 0.5, dash: [3, 3] });
    } else if (sr.kind === 'bars') {
      opts.series.push({ ...base, fill: `${c}55`, paths: uPlot.paths.bars({ size: [0.8, 40] }), points: { show: false } });
    } else {
      opts.series.push(base);
    }
  });
  const hi = series.findIndex((x) => x.kind === 'band-hi');
  const lo = series.findIndex((x) => x.kind === 'band-lo');
  if (hi >= 0 && lo >= 0) opts.bands.push({ series: [hi + 1, lo + 1], fill: `${palette[0]}33` });

  const plot = h('div.plot');
  const full = [data[0][0], data[0][data[0].length - 1]];
  let u;
  const zoom = (f) => {
    const min = u.scales.x.min;
    const max = u.scales.x.max;
    const mid = (min + max) / 2;
    const half = Math.max(((max - min) / 2) * f, 60);
    u.setScale('x', { min: Math.max(full[0], mid - half), max: Math.min(full[1], mid + half) });
  };
  const controls = h('div.zoom', { role: 'group', 'aria-label': 'Zoom the chart' },
    h('button', { type: 'button', onclick: () => zoom(0.5) }, 'Zoom in'),
    h('button', { type: 'button', onclick: () => zoom(2) }, 'Zoom out'),
    h('button', { type: 'button', onclick: () => u.setScale('x', { min: full[0], max: full[1] }) }, 'Reset zoom'),
    h('span.hint', {}, 'or drag across the chart; double-click resets'));
  container.append(controls, plot);
  u = new uPlot(opts, data, plot);
  const ro = new ResizeObserver(() => u.setSize({ width: plotWidth(container), height: 260 }));
  ro.observe(container);
  return () => {
    ro.disconnect();
    u.destroy();
  };
}

// Sleep stages, top to bottom as a hypnogram draws them.
const LANES = ['Awake', 'REM', 'Core', 'Deep'];
const LANE_OF = { Awake: 0, REM: 1, Core: 2, Asleep: 2, Deep: 3 };

// hypnogram draws one night's segments ({started_at, ended_at, stage}):
// lanes for the stages, time across; In bed as a band behind.
export function hypnogram(segments, label) {
  const t = (x) => Date.parse(x);
  const from = Math.min(...segments.map((g) => t(g.started_at)));
  const to = Math.max(...segments.map((g) => t(g.ended_at)));
  const W = 600;
  const laneH = 22;
  const top = 4;
  const left = 52;
  const H = top + LANES.length * laneH + 20;
  const x = (ms) => left + ((ms - from) / Math.max(to - from, 1)) * (W - left - 8);
  const svg = s('svg.hypno', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': label });
  LANES.forEach((name, i) => {
    svg.append(s('text.lane', { x: 0, y: top + i * laneH + 15 }, name));
    svg.append(s('line.gridline', { x1: left, x2: W - 8, y1: top + (i + 1) * laneH, y2: top + (i + 1) * laneH }));
  });
  for (const g of segments.filter((g) => g.stage === 'InBed')) {
    svg.append(s('rect.inbed', { x: x(t(g.started_at)), y: top, width: Math.max(x(t(g.ended_at)) - x(t(g.started_at)), 1), height: LANES.length * laneH },
      s('title', {}, `In bed ${clock(g.started_at)}–${clock(g.ended_at)}`)));
  }
  for (const g of segments) {
    const lane = LANE_OF[g.stage];
    if (lane === undefined) continue;
    svg.append(s(`rect.stage.st-${lane}`, { x: x(t(g.started_at)), y: top + lane * laneH + 3, width: Math.max(x(t(g.ended_at)) - x(t(g.started_at)), 1), height: laneH - 6 },
      s('title', {}, `${g.stage} ${clock(g.started_at)}–${clock(g.ended_at)}`)));
  }
  const first = segments.reduce((a, g) => (t(g.started_at) < t(a.started_at) ? g : a));
  const last = segments.reduce((a, g) => (t(g.ended_at) > t(a.ended_at) ? g : a));
  svg.append(s('text.tick', { x: left, y: H - 4 }, clock(first.started_at)));
  svg.append(s('text.tick', { x: W - 8, y: H - 4, 'text-anchor': 'end' }, clock(last.ended_at)));
  return svg;
}

// route draws GeoJSON [lon, lat, alt] coordinates as one SVG path, north
// up, scaled to fit (no map tiles: nothing is fetched from elsewhere).
export function route(coords, label) {
  const pts = coords.filter((c) => Array.isArray(c) && Number.isFinite(c[0]) && Number.isFinite(c[1]));
  const svg = s('svg.route', { viewBox: '0 0 300 300', role: 'img', 'aria-label': label });
  if (pts.length < 2) return svg;
  const lat0 = (pts.reduce((a, c) => a + c[1], 0) / pts.length) * (Math.PI / 180);
  const xy = pts.map((c) => [c[0] * Math.cos(lat0), -c[1]]);
  const xs = xy.map((p) => p[0]);
  const ys = xy.map((p) => p[1]);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const scale = 280 / Math.max(x1 - x0, y1 - y0, 1e-9);
  const ox = (300 - (x1 - x0) * scale) / 2;
  const oy = (300 - (y1 - y0) * scale) / 2;
  const P = (p) => `${(ox + (p[0] - x0) * scale).toFixed(1)} ${(oy + (p[1] - y0) * scale).toFixed(1)}`;
  svg.append(s('path.track', { d: `M${xy.map(P).join('L')}` }));
  svg.append(s('circle.start', { cx: P(xy[0]).split(' ')[0], cy: P(xy[0]).split(' ')[1], r: 5 }, s('title', {}, 'Start')));
  const end = P(xy[xy.length - 1]).split(' ');
  svg.append(s('circle.end', { cx: end[0], cy: end[1], r: 5 }, s('title', {}, 'End')));
  return svg;
}

// qr draws text as a QR code (error correction M), dark modules as one path.
export function qr(text, label) {
  const code = qrcode(0, 'M');
  code.addData(text);
  code.make();
  const n = code.getModuleCount();
  const quiet = 4;
  let d = '';
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      if (code.isDark(r, c)) d += `M${c + quiet} ${r + quiet}h1v1h-1z`;
    }
  }
  const size = n + 2 * quiet;
  return s('svg.qr', { viewBox: `0 0 ${size} ${size}`, role: 'img', 'aria-label': label, 'shape-rendering': 'crispEdges' },
    s('rect', { width: size, height: size, fill: '#fff' }),
    s('path', { d, fill: '#000' }));
}

// summaryText describes values for a screen reader.
export function describe(values, fmt = (v) => num(v)) {
  const known = values.filter((v) => v !== null && v !== undefined);
  if (!known.length) return 'no data';
  return `lowest ${fmt(Math.min(...known))}, highest ${fmt(Math.max(...known))}, latest ${fmt(known[known.length - 1])}`;
}
