// The monitor's dashboard: live uPlot charts and panels fed by Server-Sent Events (/api/stream).
//
// Two rules keep it at 60 frames per second while the monitor ticks 10 times a second:
// - event handlers only parse and append to bounded buffers (MAX_POINTS per line); every DOM and
//   canvas write happens in one requestAnimationFrame per frame, however many events arrived;
// - everything that came from data (model, page and process names, alert labels) is written with
//   textContent / createTextNode, never parsed as HTML: those names are untrusted.
// The page reports its own frames with wf-perf-monitor.js; if that script cannot load, the charts still run.

const MAX_POINTS = 600;
const MAX_ITEMS = 50;
const params = new URLSearchParams(location.search);
const token = params.get("token") || undefined;
const withToken = (path) => (token ? `${path}${path.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}` : path);
const PALETTE = ["#4dabf7", "#ff922b", "#69db7c", "#f783ac", "#b197fc", "#ffd43b", "#38d9a9", "#ff6b6b"];
// Display units: ratios as percent, seconds as milliseconds (scale applied once, when a point arrives).
const DISPLAY = { ratio: { scale: 100, unit: "%" }, s: { scale: 1000, unit: "ms" } };
const PANELS = ["findings", "alerts", "recent_alerts", "actions", "runs", "settings"];
const KNOWN_CLASSES = new Set(["critical", "warning", "info", "firing", "pending", "resolved", "relieved", "failed",
  "finished", "running", "interrupted"]);

const lines = new Map();       // chart -> Map(name -> {xs, ys, unit})
const dirtyCharts = new Set();
const plots = new Map();       // chart -> {plot, names}
const cards = new Map([...document.querySelectorAll(".card[data-chart]")].map((card) => [card.dataset.chart, card]));
let overviewPending = null;    // panel -> its data, only the panels whose data changed
const overviewShown = new Map();  // panel -> JSON of what it shows
let statusPending = null;
let resized = false;
let scheduled = false;
let chartEvents = 0;

function schedule() {
  if (!scheduled) {
    scheduled = true;
    requestAnimationFrame(render);
  }
}

function takeCharts(message) {
  for (const series of message.series) {
    const display = DISPLAY[series.unit] || { scale: 1, unit: series.unit };
    let chart = lines.get(series.chart);
    if (!chart) lines.set(series.chart, (chart = new Map()));
    let line = chart.get(series.name);
    if (!line) chart.set(series.name, (line = { xs: [], ys: [], unit: display.unit }));
    for (const [ts, value] of series.points) {
      line.xs.push(ts);
      line.ys.push(value * display.scale);
    }
    if (line.xs.length > MAX_POINTS) {
      line.xs.splice(0, line.xs.length - MAX_POINTS);
      line.ys.splice(0, line.ys.length - MAX_POINTS);
    }
    dirtyCharts.add(series.chart);
  }
}

// The overview comes every 2 s and mostly repeats itself: only a panel whose data changed is rebuilt.
function takeOverview(overview) {
  for (const panel of PANELS) {
    const text = JSON.stringify(overview[panel]);
    if (overviewShown.get(panel) !== text) {
      overviewShown.set(panel, text);
      (overviewPending ||= {})[panel] = overview[panel];
    }
  }
}

function connect() {
  const source = new EventSource(withToken("/api/stream"));
  source.addEventListener("charts", (event) => { chartEvents += 1; takeCharts(JSON.parse(event.data)); schedule(); });
  source.addEventListener("overview", (event) => { takeOverview(JSON.parse(event.data)); schedule(); });
  source.addEventListener("open", () => { statusPending = ["live", "live"]; schedule(); });
  source.addEventListener("error", () => { statusPending = ["reconnecting…", "down"]; schedule(); });
  addEventListener("resize", () => { resized = true; schedule(); });
}

// ---- rendering (only ever called from requestAnimationFrame) ----

function render() {
  scheduled = false;
  if (statusPending) {
    const status = document.getElementById("status");
    status.textContent = statusPending[0];
    status.className = `status ${statusPending[1]}`;
    statusPending = null;
  }
  if (resized) {
    resized = false;
    for (const { plot } of plots.values()) plot.setSize(plotSize(plot.root.parentElement));
  }
  for (const chart of dirtyCharts) renderChart(chart);
  dirtyCharts.clear();
  if (overviewPending) {
    renderOverview(overviewPending);
    overviewPending = null;
  }
}

function plotSize(box) {
  return { width: Math.max(200, box.clientWidth), height: 200 };
}

// The x axis spans the data, and at least MIN_SPAN_S: a single point (a page's first report) would
// otherwise stretch it over years.
const MIN_SPAN_S = 30;
function timeRange(u) {
  const xs = u.data[0];
  const first = xs[0];
  const last = xs[xs.length - 1];
  return last - first < MIN_SPAN_S ? [last - MIN_SPAN_S, last + 1] : [first, last];
}

function renderChart(chart) {
  const card = cards.get(chart);
  const byName = lines.get(chart);
  if (!card || !byName || byName.size === 0) return;
  const names = [...byName.keys()];
  const tables = names.map((name) => [byName.get(name).xs, byName.get(name).ys]);
  const data = tables.length === 1 ? tables[0] : uPlot.join(tables);
  let held = plots.get(chart);
  if (held && held.names.join("\u0000") !== names.join("\u0000")) {
    held.plot.destroy();
    held = undefined;
  }
  if (!held) {
    card.classList.add("has-data");
    const box = card.querySelector(".plot");
    const unit = byName.get(names[0]).unit;
    const plot = new uPlot({
      ...plotSize(box),
      legend: { live: false },
      cursor: { drag: { x: false, y: false } },
      // one point (a page's first report) would otherwise stretch the time axis over years
      scales: { x: { time: true, range: timeRange } },
      axes: [{ stroke: "#8b96a3", grid: { stroke: "#262e37" } },
             { stroke: "#8b96a3", grid: { stroke: "#262e37" }, label: unit, size: 55 }],
      series: [{}, ...names.map((name, i) => ({ label: name, stroke: PALETTE[i % PALETTE.length], width: 1.5,
                                                 spanGaps: true }))],   // uPlot shows points only where sparse
    }, data, box);
    plots.set(chart, (held = { plot, names }));
  } else {
    held.plot.setData(data);
  }
}

function item(parts, detail) {
  const li = document.createElement("li");
  for (const part of parts) {
    if (part === undefined || part === null || part === "") continue;
    if (Array.isArray(part)) {                  // [text, class]: a tag
      const span = document.createElement("span");
      span.className = KNOWN_CLASSES.has(part[1]) ? `tag ${part[1]}` : "tag";
      span.textContent = String(part[0]);
      li.append(span);
    } else {
      li.append(document.createTextNode(`${part} `));
    }
  }
  if (detail) {
    const small = document.createElement("span");
    small.className = "detail";
    small.textContent = detail;
    li.append(small);
  }
  return li;
}

function fill(id, items, none) {
  const list = document.getElementById(id);
  const shown = items.slice(0, MAX_ITEMS);
  if (shown.length === 0) {
    const li = document.createElement("li");
    li.className = "none";
    li.textContent = none;
    shown.push(li);
  }
  list.replaceChildren(...shown);
}

const clock = (ts) => new Date(ts * 1000).toLocaleTimeString();
const labelText = (labels) => Object.entries(labels || {}).map(([k, v]) => `${k}=${v}`).join(", ");

function renderOverview(o) {
  if (o.findings) fill("findings", o.findings.map((f) => item([[f.priority, f.priority], f.code, f.summary],
    [f.actions.length ? `do: ${f.actions.join("; ")}` : "", f.explained_by ? `explained by ${f.explained_by}` : ""]
      .filter(Boolean).join(" · "))), "no findings");
  if (o.alerts) fill("alerts", o.alerts.map((a) => item([[a.state, a.state], [a.labels.severity || "", a.labels.severity], a.name,
    a.value === null ? "" : `= ${Number(a.value).toPrecision(4)}`],
    [labelText(a.labels), a.escalation.length ? `escalation: ${a.escalation.join(" → ")}` : ""]
      .filter(Boolean).join(" · "))), "no alert pending or firing");
  if (o.recent_alerts) fill("recent-alerts", o.recent_alerts.map((a) => item([clock(a.resolved_at || a.fired_at || a.active_at),
    [a.state, a.state], a.name])), "no transitions yet");
  if (o.actions) fill("actions", o.actions.map((x) => item([clock(x.ts), [x.outcome || (x.applied ? "applied" : "dry run"), x.outcome],
    `level ${x.level}`, x.kind, x.target], [x.reason, x.alert ? `alert ${x.alert}` : "", x.error]
      .filter(Boolean).join(" · "))), "no recovery actions");
  if (o.runs) fill("runs", o.runs.map((r) => item([`#${r.id}`, r.command, [r.status, r.status], r.tier,
    `${r.findings} finding${r.findings === 1 ? "" : "s"}`], `started ${clock(r.started_at)}`)), "no runs stored");
  if (o.settings) renderSettings(o.settings);
}

function renderSettings(s) {
  const rows = [["quality", s.quality.toFixed(2)], ["set by", s.reason],
    ["frame budget", `${(s.frame_budget_s * 1000).toFixed(1)} ms`], ["updated", clock(s.updated_at)]];
  const dl = document.getElementById("settings");
  dl.replaceChildren(...rows.flatMap(([k, v]) => {
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = k;
    dd.textContent = v;
    return [dt, dd];
  }));
  document.getElementById("quality").textContent = `UI quality ${s.quality.toFixed(2)}`;
}

// ---- the page's own frames ----

let perfMonitor = null;
async function reportFrames() {
  try {
    const { startPerfMonitor } = await import("/static/wf-perf-monitor.js");
    perfMonitor = startPerfMonitor({ endpoint: new URL("/api/frames", location.href).href,
      page: "wfdoctor-dashboard", intervalMs: 2000, token });
  } catch (error) {
    document.getElementById("frames-note").textContent = "this page's frames are not reported (wf-perf-monitor.js did not load)";
  }
}

// For tests and benchmarks: what each chart holds and draws.
window.wfDashboard = {
  perf: () => perfMonitor,
  updates: () => chartEvents,
  points: (chart) => [...(lines.get(chart) || new Map()).values()].reduce((n, l) => n + l.xs.length, 0),
  drawn: (chart) => {
    const held = plots.get(chart);
    return held ? { series: held.names, lastX: held.plot.data[0][held.plot.data[0].length - 1],
                    length: held.plot.data[0].length } : null;
  },
};

connect();
reportFrames();
