// Tiny SVG charts: no library, no external requests. A chart is redrawn from its series
// (arrays of [t, value]) whenever they change; the last hour at one point per second is
// 3600 points per line, which an SVG polyline draws in well under a frame.
const NS = "http://www.w3.org/2000/svg";

function el(name, attrs) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

function path(points, x, y) {
  let d = "";
  for (let i = 0; i < points.length; i++) d += (i ? "L" : "M") + x(points[i][0]).toFixed(1) + "," + y(points[i][1]).toFixed(1);
  return d;
}

/** lineChart draws lines ({points, cls, axis: "left"|"right"}) over [t0, t1] into svg. */
export function lineChart(svg, lines, t0, t1) {
  const w = svg.clientWidth || 600, h = svg.clientHeight || 180, pad = { l: 40, r: 40, t: 8, b: 18 };
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.replaceChildren();
  const x = (t) => pad.l + ((t - t0) / Math.max(1, t1 - t0)) * (w - pad.l - pad.r);
  const maxOf = (axis) => Math.max(1, ...lines.filter((l) => l.axis === axis).flatMap((l) => l.points.map((p) => p[1])));
  const max = { left: maxOf("left"), right: maxOf("right") };
  for (const axis of ["left", "right"]) {
    const m = max[axis];
    const label = el("text", { x: axis === "left" ? 4 : w - 4, y: pad.t + 10, "font-size": 11, fill: "#5b6470", "text-anchor": axis === "left" ? "start" : "end" });
    label.textContent = fmt(m);
    svg.append(label);
  }
  svg.append(el("line", { x1: pad.l, x2: w - pad.r, y1: h - pad.b, y2: h - pad.b, stroke: "#d9dde3" }));
  const tl = el("text", { x: pad.l, y: h - 4, "font-size": 11, fill: "#5b6470" });
  tl.textContent = new Date(t0 * 1000).toLocaleTimeString();
  const tr = el("text", { x: w - pad.r, y: h - 4, "font-size": 11, fill: "#5b6470", "text-anchor": "end" });
  tr.textContent = new Date(t1 * 1000).toLocaleTimeString();
  svg.append(tl, tr);
  for (const l of lines) {
    const y = (v) => h - pad.b - (v / max[l.axis]) * (h - pad.t - pad.b);
    svg.append(el("path", { d: path(l.points, x, y), fill: "none", stroke: "currentColor", "stroke-width": 1.5, class: l.cls }));
  }
}

/** sparkline draws one series into a small svg. */
export function sparkline(svg, points) {
  const w = 120, h = 28;
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.replaceChildren();
  if (points.length < 2) return;
  const t0 = points[0][0], t1 = points[points.length - 1][0];
  const m = Math.max(1, ...points.map((p) => p[1]));
  const x = (t) => ((t - t0) / Math.max(1, t1 - t0)) * w, y = (v) => h - 2 - (v / m) * (h - 4);
  svg.append(el("path", { d: path(points, x, y), fill: "none", stroke: "currentColor", "stroke-width": 1.5, class: "l-in" }));
}

/** barChart draws labelled bars ([label, value]) into svg. */
export function barChart(svg, bars) {
  const w = svg.clientWidth || 600, h = svg.clientHeight || 180, pad = { l: 40, r: 8, t: 8, b: 18 };
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.replaceChildren();
  const m = Math.max(1, ...bars.map((b) => b[1]));
  const bw = (w - pad.l - pad.r) / Math.max(1, bars.length);
  const top = el("text", { x: 4, y: pad.t + 10, "font-size": 11, fill: "#5b6470" });
  top.textContent = fmt(m);
  svg.append(top);
  bars.forEach(([label, v], i) => {
    const bh = (v / m) * (h - pad.t - pad.b);
    const r = el("rect", { x: pad.l + i * bw + 1, y: h - pad.b - bh, width: Math.max(1, bw - 2), height: bh, fill: "#0b63ce" });
    const title = el("title", {});
    title.textContent = `${label}: ${v}`;
    r.append(title);
    svg.append(r);
  });
  if (bars.length) {
    const a = el("text", { x: pad.l, y: h - 4, "font-size": 11, fill: "#5b6470" });
    a.textContent = bars[0][0];
    const b = el("text", { x: w - pad.r, y: h - 4, "font-size": 11, fill: "#5b6470", "text-anchor": "end" });
    b.textContent = bars[bars.length - 1][0];
    svg.append(a, b);
  }
}

export function fmt(n) {
  if (n >= 1e9) return (n / 1e9).toFixed(1) + "G";
  if (n >= 1e6) return (n / 1e6).toFixed(1) + "M";
  if (n >= 1e4) return (n / 1e3).toFixed(1) + "k";
  return String(Math.round(n * 100) / 100);
}
