// Line charts of the metrics history, drawn as SVG.
import { formatNumber, h, svg } from "./dom.js";

const WIDTH = 320;
const HEIGHT = 120;
const PAD = { left: 46, right: 6, top: 8, bottom: 18 };

function segments(points) {
  // A missing value breaks the line instead of drawing it down to zero.
  const runs = [[]];
  for (const point of points) {
    if (point === null) { if (runs.at(-1).length) runs.push([]); } else runs.at(-1).push(point);
  }
  return runs.filter((run) => run.length);
}

export function lineChart({ title, samples, series, format = (value) => formatNumber(value, 1), max }) {
  const values = samples.flatMap((sample) => series.map((line) => sample[line.key])).filter((value) => value !== null && value !== undefined);
  const top = max ?? Math.max(1, ...values) * 1.15;
  const times = samples.map((sample) => sample.time);
  const start = times[0] ?? 0;
  const span = Math.max(1, (times.at(-1) ?? 1) - start);
  const x = (time) => PAD.left + ((time - start) / span) * (WIDTH - PAD.left - PAD.right);
  const y = (value) => PAD.top + (1 - Math.min(value, top) / top) * (HEIGHT - PAD.top - PAD.bottom);
  const plot = svg(
    "svg",
    { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-label": title, class: "chart" },
    svg("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(0), y2: y(0), class: "axis" }),
    svg("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(top), y2: y(top), class: "grid" }),
    svg("text", { x: PAD.left - 4, y: y(top) + 4, class: "tick", "text-anchor": "end" }, format(top)),
    svg("text", { x: PAD.left - 4, y: y(0), class: "tick", "text-anchor": "end" }, format(0)),
    svg("text", { x: WIDTH - PAD.right, y: HEIGHT - 4, class: "tick", "text-anchor": "end" }, "now"),
    svg("text", { x: PAD.left, y: HEIGHT - 4, class: "tick" }, `−${Math.round(span)} s`),
  );
  for (const line of series) {
    const points = samples.map((sample) => {
      const value = sample[line.key];
      return value === null || value === undefined ? null : `${x(sample.time).toFixed(1)},${y(value).toFixed(1)}`;
    });
    for (const run of segments(points)) {
      plot.append(svg("polyline", { points: run.join(" "), class: `series ${line.className}` }));
    }
  }
  const latest = samples.at(-1) ?? {};
  const legend = series.map((line) => h("span", { class: `legend ${line.className}` }, `${line.label} ${format(latest[line.key])}`));
  return h("figure", { class: "card chart-card", "data-chart": series[0].key }, h("figcaption", {}, h("strong", {}, title), " ", legend), plot);
}
