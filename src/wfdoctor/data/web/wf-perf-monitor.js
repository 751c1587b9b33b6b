// wf-perf-monitor.js: a page's frame times, long tasks, long animation frames (LoAF), DOM size and JS heap,
// reported to `wfdoctor monitor` (POST /api/frames) every few seconds. A plain ES module: no build step.
//
//   import { startPerfMonitor } from "/static/wf-perf-monitor.js";
//   const monitor = startPerfMonitor({ endpoint: "http://127.0.0.1:8471/api/frames", page: "chat" });
//   monitor.flush(); monitor.snapshot(); monitor.stop();
//
// Why it is built this way:
// - The per-frame work is one subtraction and one store into a preallocated Float64Array ring: the
//   monitor must not cost the frames it measures. Sorting (percentiles) happens once per report.
// - Memory is bounded: the ring keeps the newest RING_FRAMES deltas of an interval; LoAF attribution
//   keeps at most MAX_SCRIPT_KEYS distinct (script, invoker) pairs per interval.
// - Frames of a hidden tab are not frames: while hidden there is no rAF loop and no timer, the report so
//   far leaves with sendBeacon (the page may never come back), and the delta spanning the hidden time
//   is dropped.
// - It never throws into the page, whatever the page did to the platform (a throwing rAF, fetch,
//   sendBeacon, PerformanceObserver, timer, listener or crypto; performance.memory gone or throwing; a page
//   name whose toString throws): a failed send is dropped quietly, an onReport callback that throws is
//   ignored, a part that cannot start is left out, and a monitor that cannot start at all is inert.
// - The body is text/plain, so a page on another origin sends a CORS "simple request" (no preflight).

const RING_FRAMES = 4096;             // a power of two: the index wraps with a mask
const RING_MASK = RING_FRAMES - 1;
const MAX_SCRIPTS = 10;               // scripts named in a report, by time spent
const MAX_SCRIPT_KEYS = 256;          // distinct (script, invoker) pairs gathered in one interval
const MAX_TEXT = 300;                 // source and invoker, as the ingest accepts them
const MAX_PAGE = 200;
const MAX_INTERVAL_S = 300;
const MIN_INTERVAL_MS = 100;          // a zero or mistyped interval must not become a busy timer
// rAF deltas come in whole vsyncs that jitter around the budget: a frame is over budget when it missed
// at least one vsync, i.e. took longer than one and a half budgets.
const MISSED_FRAME = 1.5;
const GRADES = [[55, "EXCELLENT"], [30, "GOOD"]];   // fps thresholds of the spec; below: POOR
const OTHER = "(other)";

/** A random session id (12 hex characters) so reports of one page load can be told apart. */
function sessionId() {
  const bytes = new Uint8Array(6);
  try {
    globalThis.crypto.getRandomValues(bytes);
  } catch {
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  }
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** `fn()`, or `fallback` when the page's platform throws at us. */
function quietly(fn, fallback) {
  try {
    return fn();
  } catch {
    return fallback;
  }
}

function round(value, digits) {
  const scale = 10 ** digits;
  return Number.isFinite(value) ? Math.round(value * scale) / scale : 0;
}

function text(value, limit) {
  const s = quietly(() => String(value ?? ""), "");
  return s.length > limit ? s.slice(0, limit) : s;
}

function supports(type) {
  return quietly(() => {
    const types = globalThis.PerformanceObserver && PerformanceObserver.supportedEntryTypes;
    return Array.isArray(types) && types.includes(type);
  }, false);
}

function grade(fps) {
  for (const [floor, name] of GRADES) if (fps >= floor) return name;
  return "POOR";
}

/** Percentile of an ascending array (nearest rank). */
function percentile(sorted, n, q) {
  return n === 0 ? 0 : sorted[Math.min(n - 1, Math.ceil(q * n) - 1)];
}

/** Mean, percentiles, max, jitter and over-budget share of the kept frame deltas. */
function frameStats(ring, frames, budgetMs) {
  const n = Math.min(frames, RING_FRAMES);
  const sorted = ring.slice(0, n).sort();   // a typed array sorts numerically
  let sum = 0, squares = 0, over = 0;
  for (let i = 0; i < n; i++) {
    const d = sorted[i];
    sum += d;
    squares += d * d;
    if (d > budgetMs * MISSED_FRAME) over++;
  }
  const mean = n ? sum / n : 0;
  return {
    frame_ms: {
      mean: round(mean, 3), p50: round(percentile(sorted, n, 0.5), 3), p95: round(percentile(sorted, n, 0.95), 3),
      p99: round(percentile(sorted, n, 0.99), 3), max: round(n ? sorted[n - 1] : 0, 3),
      jitter: round(n ? Math.sqrt(Math.max(0, squares / n - mean * mean)) : 0, 3),
    },
    over_budget: round(n ? over / n : 0, 4),
  };
}

/** Long animation frames of an interval: totals and time per (script, invoker). */
class LoafTally {
  constructor() { this.reset(); }

  reset() {
    this.count = 0; this.ms = 0; this.scriptMs = 0; this.styleLayoutMs = 0; this.forcedMs = 0;
    this.scripts = new Map();
  }

  add(entry) {
    this.count++;
    this.ms += entry.duration;
    if (entry.styleAndLayoutStart > 0) {
      this.styleLayoutMs += Math.max(0, entry.startTime + entry.duration - entry.styleAndLayoutStart);
    }
    for (const script of entry.scripts || []) this.addScript(script);
  }

  addScript(script) {
    const forced = script.forcedStyleAndLayoutDuration || 0;
    this.scriptMs += script.duration;
    this.forcedMs += forced;
    let source = text(script.sourceURL || script.invoker, MAX_TEXT);
    let invoker = text(script.invoker, MAX_TEXT);
    let key = source + "\n" + invoker;
    if (!this.scripts.has(key) && this.scripts.size >= MAX_SCRIPT_KEYS) {
      source = invoker = OTHER;
      key = OTHER + "\n" + OTHER;
    }
    const slot = this.scripts.get(key) || { source, invoker, ms: 0, forced_layout_ms: 0 };
    slot.ms += script.duration;
    slot.forced_layout_ms += forced;
    this.scripts.set(key, slot);
  }

  report(supported) {
    const top = [...this.scripts.values()].sort((a, b) => b.ms - a.ms).slice(0, MAX_SCRIPTS);
    return {
      supported, count: this.count, ms: round(this.ms, 3), script_ms: round(this.scriptMs, 3),
      style_layout_ms: round(this.styleLayoutMs, 3), forced_layout_ms: round(this.forcedMs, 3),
      scripts: top.map((s) => ({ source: s.source, invoker: s.invoker, ms: round(s.ms, 3),
                                 forced_layout_ms: round(s.forced_layout_ms, 3) })),
    };
  }
}

/**
 * Start measuring this page's frames; reports go to `endpoint` every `intervalMs` (none without an
 * endpoint: `onReport` and `snapshot()` still see them). Returns { stop, flush, snapshot }.
 */
export function startPerfMonitor(options = {}) {
  return quietly(() => start(options || {}), { stop() {}, flush() {}, snapshot: () => null });
}

function start({ endpoint, page = location.pathname, intervalMs = 2000, budgetMs = 16.67, token = undefined,
                 onReport = undefined }) {
  const label = text(page, MAX_PAGE) || "/";
  const session = sessionId();
  const target = endpoint ? text(endpoint, Infinity) : "";
  const url = target && token ? `${target}${target.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}`
    : target;
  const ring = new Float64Array(RING_FRAMES);
  const loaf = new LoafTally();
  const loafSupported = supports("long-animation-frame");
  let frames = 0, next = 0, last = -1, rafHandle = 0, timer = 0, stopped = false;
  let intervalStart = performance.now(), longTasks = 0, longTaskMs = 0;

  function onFrame(ts) {
    if (last >= 0) {
      ring[next] = ts - last;
      next = (next + 1) & RING_MASK;
      frames++;
    }
    last = ts;
    rafHandle = quietly(() => requestAnimationFrame(onFrame), 0);   // a throwing rAF ends the loop, not the page
  }

  function onLongTasks(list) {
    for (const entry of list.getEntries()) { longTasks++; longTaskMs += entry.duration; }
  }

  function onLoaf(list) {
    for (const entry of list.getEntries()) loaf.add(entry);
  }

  function observe(type, callback) {
    if (!supports(type)) return null;
    try {
      const observer = new PerformanceObserver(callback);
      observer.observe({ type, buffered: false });
      return observer;
    } catch {
      return null;
    }
  }

  const longTaskObserver = observe("longtask", onLongTasks);
  const loafObserver = observe("long-animation-frame", onLoaf);

  /** Entries the observers hold but have not delivered yet belong to this interval. */
  function drainObservers() {
    if (longTaskObserver) quietly(() => onLongTasks({ getEntries: () => longTaskObserver.takeRecords() }));
    if (loafObserver) quietly(() => onLoaf({ getEntries: () => loafObserver.takeRecords() }));
  }

  function snapshot() {
    drainObservers();
    const memory = quietly(() => performance.memory, undefined);
    const stats = frameStats(ring, frames, budgetMs);   // the newest frames, in any order
    const intervalS = Math.min(MAX_INTERVAL_S, Math.max(0.001, (performance.now() - intervalStart) / 1000));
    const fps = stats.frame_ms.mean > 0 ? 1000 / stats.frame_ms.mean : 0;
    return {
      v: 1, page: label, session, interval_s: round(intervalS, 3), frames,
      frame_ms: stats.frame_ms, fps: round(fps, 2), over_budget: stats.over_budget,
      long_tasks: { count: longTasks, ms: round(longTaskMs, 3) },
      loaf: loaf.report(loafSupported),
      dom_nodes: quietly(() => document.getElementsByTagName("*").length, null),
      heap_bytes: memory && Number.isFinite(memory.usedJSHeapSize) ? memory.usedJSHeapSize : null,
      grade: grade(fps),
    };
  }

  function resetInterval() {
    frames = 0; next = 0; longTasks = 0; longTaskMs = 0;
    loaf.reset();
    intervalStart = performance.now();
  }

  /** Send what is gathered (nothing when no frame was seen) and start a new interval. */
  function report(beacon) {
    if (stopped) return;
    try {
      if (frames === 0 && longTasks === 0) return;
      const body = JSON.stringify(snapshot());
      resetInterval();
      if (onReport) {
        try { onReport(JSON.parse(body)); } catch { /* the page's callback is not ours to fail */ }
      }
      if (url) send(body, beacon);
    } catch { /* never into the page */ }
  }

  function send(body, beacon) {
    if (beacon && navigator.sendBeacon && navigator.sendBeacon(url, body)) return;
    if (typeof fetch !== "function") return;
    fetch(url, { method: "POST", keepalive: true, body, headers: { "Content-Type": "text/plain" } })
      .catch(() => { /* dropped: the next report carries the next interval */ });
  }

  function resume() {
    if (stopped || rafHandle) return;
    last = -1;                      // the delta spanning the hidden time is not a frame
    drainObservers();
    resetInterval();                // long tasks of the hidden time are dropped with it
    rafHandle = quietly(() => requestAnimationFrame(onFrame), 0);
    const every = Math.max(MIN_INTERVAL_MS, Number(intervalMs) || 2000);
    timer = quietly(() => setInterval(() => report(false), every), 0);
  }

  function pause() {
    if (rafHandle) quietly(() => cancelAnimationFrame(rafHandle));
    if (timer) quietly(() => clearInterval(timer));
    rafHandle = 0; timer = 0;
  }

  function onVisibility() {
    if (document.visibilityState === "hidden") { pause(); report(true); } else resume();
  }

  function onPageHide() { pause(); report(true); }

  function onPageShow() { if (document.visibilityState !== "hidden") resume(); }   // back from the bfcache

  function stop() {
    if (stopped) return;
    pause();
    stopped = true;
    quietly(() => document.removeEventListener("visibilitychange", onVisibility));
    quietly(() => removeEventListener("pagehide", onPageHide));
    quietly(() => removeEventListener("pageshow", onPageShow));
    if (longTaskObserver) quietly(() => longTaskObserver.disconnect());
    if (loafObserver) quietly(() => loafObserver.disconnect());
  }

  try {
    document.addEventListener("visibilitychange", onVisibility);
    addEventListener("pagehide", onPageHide);
    addEventListener("pageshow", onPageShow);
    if (document.visibilityState !== "hidden") resume();
  } catch {
    stop();         // half started: nothing of it is left behind
    throw new Error("cannot start");
  }
  return { stop, flush: () => report(false), snapshot: () => quietly(snapshot, null) };
}
