// Time-series charts on uPlot (a small canvas library, pinned in package-lock.json): the
// telemetry endpoints' points drawn as lines, sized to their container. uPlot sets sizes through
// element.style from script, which the gateway's CSP (style-src 'self') allows; its stylesheet is
// bundled into the admin stylesheet.
import uPlot from 'uplot';
import { useEffect, useRef } from 'preact/hooks';
import { html } from '../html.js';

const kColours = ['#0b7a5a', '#b42318', '#1769c4', '#8a5a00'];

/// A line chart of `points` (objects with an ISO `ts`) for each of `series` ({key, label}),
/// with `format` for the y axis and legend. Says so in words when there are no points.
export function TimeChart({ title, points, series, format = (v) => String(v), height = 220 }) {
  const box = useRef(null);
  const has = points && points.length > 0;
  useEffect(() => {
    if (!has) {
      return undefined;
    }
    const el = box.current;
    const data = [points.map((p) => Date.parse(p.ts) / 1000),
      ...series.map((s) => points.map((p) => (p[s.key] === null || p[s.key] === undefined ? null : Number(p[s.key]))))];
    const fmt = (u, v) => (v === null || v === undefined ? '—' : format(v));
    const opts = {
      width: Math.max(el.clientWidth, 200),
      height,
      scales: { x: { time: true } },
      series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: kColours[i % kColours.length], width: 2, value: fmt }))],
      axes: [{}, { size: 70, values: (u, splits) => splits.map((v) => format(v)) }],
    };
    const plot = new uPlot(opts, data, el);
    // The element, not the ref: an observer callback can still arrive after the chart is gone.
    const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(el.clientWidth, 200), height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [points]);
  const last = has ? points[points.length - 1] : null;
  return html`<figure class="chart" data-chart=${title} data-points=${has ? points.length : 0}>
    <figcaption>${title}</figcaption>
    ${has ? html`<div ref=${box} class="chart-box"></div>
        <p class="sr-only">${points.length} points; latest: ${series.map((s) => `${s.label} ${format(last[s.key])}`).join(', ')}</p>`
      : html`<p class="empty">No telemetry for this range yet.</p>`}
  </figure>`;
}
