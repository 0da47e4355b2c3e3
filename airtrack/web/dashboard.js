// airtrack dashboard: plain JavaScript, no build step, no network beyond this orchestrator.
"use strict";

const REFRESH_MS = 3000;
const KEY = "airtrack.adminToken";
const $ = (id) => document.getElementById(id);

function token() {
  // The demo prints /dashboard#token=…: a fragment never reaches a server, a log or a
  // redirect, so the link opens logged in. ?token=… still works for older links.
  const fromUrl =
    new URLSearchParams(location.hash.slice(1)).get("token") ||
    new URLSearchParams(location.search).get("token");
  if (fromUrl) {
    sessionStorage.setItem(KEY, fromUrl);
    // Keep the token out of the address bar, history and screenshots.
    history.replaceState(null, "", location.pathname);
  }
  return sessionStorage.getItem(KEY);
}

async function api(path, method) {
  const resp = await fetch("/api/v1" + path, {
    method: method || "GET",
    headers: { Authorization: "Bearer " + token() },
    cache: "no-store",
  });
  if (resp.status === 401 || resp.status === 403) {
    sessionStorage.removeItem(KEY);
    throw new Error("the admin token was refused");
  }
  if (!resp.ok) throw new Error(path + ": HTTP " + resp.status);
  return resp.json();
}

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  if (cls) td.className = cls;
  return td;
}

function fill(tableId, rows, toCells) {
  const body = $(tableId).querySelector("tbody");
  body.replaceChildren(
    ...rows.map((r) => {
      const tr = document.createElement("tr");
      tr.append(...toCells(r));
      return tr;
    })
  );
}

// Date, 24-hour time and zone, in the browser's zone: "2026-11-30 00:46:47 GMT+1".
// A bare "11:46:47 PM" said neither the day nor the zone (the API's times are UTC).
const STAMP = new Intl.DateTimeFormat("sv-SE", {
  year: "numeric", month: "2-digit", day: "2-digit",
  hour: "2-digit", minute: "2-digit", second: "2-digit",
  hour12: false, timeZoneName: "short",
});

function time(iso) {
  return iso ? STAMP.format(new Date(iso)) : "";
}

const SVG = "http://www.w3.org/2000/svg";
function el(name, attrs, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

// Bar chart of streams per worker against capacity (inline SVG, drawn here).
function drawLoad(workers) {
  const svg = $("load-chart");
  const width = svg.clientWidth || 600;
  const height = 220;
  const pad = { l: 36, r: 8, t: 10, b: 40 };
  const live = workers.filter((w) => w.state !== "inactive");
  const max = Math.max(1, ...live.map((w) => Math.max(w.capacity, w.streams)));
  const slot = (width - pad.l - pad.r) / Math.max(1, live.length);
  const bw = Math.max(4, Math.min(48, slot * 0.7));
  const y = (v) => pad.t + (height - pad.t - pad.b) * (1 - v / max);
  const nodes = [];
  for (const tick of [0, Math.round(max / 2), max]) {
    nodes.push(el("line", { x1: pad.l, x2: width - pad.r, y1: y(tick), y2: y(tick),
                            stroke: "#e3e8ee" }));
    nodes.push(el("text", { x: pad.l - 6, y: y(tick) + 4, "text-anchor": "end" }, tick));
  }
  live.forEach((w, i) => {
    const x = pad.l + i * slot + (slot - bw) / 2;
    nodes.push(el("rect", { class: "cap", x, y: y(w.capacity), width: bw,
                            height: y(0) - y(w.capacity) }));
    const bar = el("rect", { class: w.streams > w.capacity ? "bar over" : "bar", x,
                             y: y(w.streams), width: bw, height: y(0) - y(w.streams),
                             "data-worker": w.id, "data-streams": w.streams });
    bar.append(el("title", {}, `${w.id}: ${w.streams} / ${w.capacity} streams`));
    nodes.push(bar);
    nodes.push(el("text", { x: x + bw / 2, y: height - pad.b + 14, "text-anchor": "middle" },
                  w.id.length > 12 ? w.id.slice(0, 11) + "…" : w.id));
    nodes.push(el("text", { x: x + bw / 2, y: y(w.streams) - 3, "text-anchor": "middle" },
                  w.streams));
  });
  svg.replaceChildren(...nodes);
}

function render(diag, alerts) {
  const rec = $("recovery");
  const on = Boolean(diag.recovery && diag.recovery.on);
  rec.textContent = "recovery mode: " + (on ? "ON" : "off");
  rec.className = "badge " + (on ? "on" : "ok");
  rec.dataset.on = String(on);
  $("leader").textContent = diag.leader ? "leader " + diag.leader.replica : "no leader";
  $("updated").textContent = "updated " + STAMP.format(new Date());

  $("worker-count").textContent = `(${diag.workers.length})`;
  drawLoad(diag.workers);
  fill("workers", diag.workers, (w) => [
    cell(w.id), cell(w.host), cell(w.state), cell(w.streams), cell(w.capacity),
    cell(w.metrics && w.metrics.outbox_pending !== undefined ? w.metrics.outbox_pending : "-"),
    cell(w.silent_s === null ? "-" : w.silent_s + " s"),
  ]);
  $("alert-count").textContent = `(${alerts.length})`;
  fill("alerts", alerts, (a) => [
    cell(a.severity, "sev-" + a.severity), cell(a.kind), cell(a.subject),
    cell(a.message, "wrap"), cell(a.count), cell(time(a.last_seen)),
  ]);
  $("findings").replaceChildren(
    ...diag.findings.map((f) => {
      const li = document.createElement("li");
      const sev = document.createElement("span");
      sev.className = "sev-" + f.severity;
      sev.textContent = f.severity + ": ";
      li.append(sev, f.problem + " — " + f.recommendation);
      li.title = f.evidence;
      return li;
    })
  );
  $("stream-count").textContent = `(${diag.streams.length})`;
  const pct = (r) => (r === null || r === undefined ? "-" : (r * 100).toFixed(1) + " %");
  fill("streams", diag.streams, (s) => [
    cell(s.name), cell(s.health || "-", "health-" + (s.health || "none")),
    cell(pct(s.uptime_24h)), cell(pct(s.uptime_7d)), cell(s.assignment_state || "-"),
    cell(s.capture_status || "-"), cell(s.worker_id || "-"),
    cell(s.url_in_use && s.url_in_use !== s.url ? "backup: " + s.url_in_use : s.url, "wrap"),
    cell(s.last_error || "", "wrap"),
  ]);
}

// Recurring unknowns (GET /unknowns); "dismiss" hides one (POST /unknowns/ID/dismiss).
function renderUnknowns(rows) {
  $("unknown-count").textContent = `(${rows.length})`;
  fill("unknowns", rows, (u) => {
    const button = document.createElement("button");
    button.textContent = "dismiss";
    button.dataset.unknown = u.id;
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        await api(`/unknowns/${u.id}/dismiss`, "POST");
        renderUnknowns(await api("/unknowns"));
      } catch (err) {
        button.disabled = false;
        $("error").textContent = err.message;
        $("error").hidden = false;
      }
    });
    const action = document.createElement("td");
    action.append(button);
    return [
      cell(u.id), cell(u.airings), cell(u.stations.join(", "), "wrap"),
      cell(Number(u.duration_s).toFixed(1) + " s"), cell(time(u.first)), cell(time(u.last)),
      action,
    ];
  });
}

// Live plays: loaded once, then kept current from the event stream (GET /events, SSE)
// instead of polling. fetch() rather than EventSource because the stream needs the
// Authorization header; Last-Event-ID resumes after a dropped connection.
const PLAYS_SHOWN = 25;
let plays = [];
let playsFeed = null;

function renderPlays() {
  fill("plays", plays, (p) => [
    cell(time(p.started_at)), cell(p.stream), cell(p.title || "#" + p.track_id),
    cell(p.artist), cell(Number(p.confidence).toFixed(2)), clipCell(p.play_id ?? p.id),
  ]);
}

// A play's proof clip (GET /plays/{id}/clip), fetched when asked: the route needs the
// Authorization header, so the audio element plays a blob. Fetched clips are kept (a
// few), so a re-render of the list does not lose them.
const clipUrls = new Map();

function clipCell(id) {
  const td = document.createElement("td");
  if (!id) return td;
  const show = (url) => {
    const audio = document.createElement("audio");
    audio.controls = true;
    audio.preload = "none";
    audio.src = url;
    td.replaceChildren(audio);
    return audio;
  };
  if (clipUrls.has(id)) {
    show(clipUrls.get(id));
    return td;
  }
  const button = document.createElement("button");
  button.textContent = "\u25B6";
  button.title = "play this airing's proof clip";
  button.onclick = async () => {
    button.disabled = true;
    try {
      const resp = await fetch("/api/v1/plays/" + id + "/clip", {
        headers: { Authorization: "Bearer " + token() },
      });
      if (!resp.ok) {
        td.textContent = resp.status === 404 ? "no clip" : "HTTP " + resp.status;
        return;
      }
      const url = URL.createObjectURL(await resp.blob());
      clipUrls.set(id, url);
      if (clipUrls.size > PLAYS_SHOWN) {
        const [oldest, old] = clipUrls.entries().next().value;
        clipUrls.delete(oldest);
        URL.revokeObjectURL(old);
      }
      show(url).play().catch(() => {});
    } catch (err) {
      td.textContent = "clip: " + err.message;
    }
  };
  td.append(button);
  return td;
}

function playFromEvent(d) {
  const t = d.track || {};
  return { play_id: d.play_id, started_at: d.started_at, stream: d.station,
           title: t.title, artist: t.artist, track_id: t.track_id, confidence: d.confidence };
}

// Events that arrive while the first list loads wait for it (then update it).
let playsPending = [];

function onPlayEvent(d) {
  if (playsPending !== null) {
    playsPending.push(d);
    return;
  }
  const row = playFromEvent(d);
  const i = plays.findIndex((p) => p.play_id === row.play_id);
  if (i >= 0) plays[i] = row;
  else plays.unshift(row);
  plays.sort((a, b) => new Date(b.started_at) - new Date(a.started_at));
  plays = plays.slice(0, PLAYS_SHOWN);
  renderPlays();
}

// The stream is opened before the list is loaded (``opened`` is called once its answer
// came, or its first attempt failed): the stream starts at the newest event when it
// answers, so a play stored while the list loads is in one or the other, never lost.
async function followPlays(opened) {
  let lastId = null;
  for (;;) {
    try {
      const headers = { Authorization: "Bearer " + token() };
      if (lastId !== null) headers["Last-Event-ID"] = lastId;
      let resp;
      try {
        resp = await fetch("/api/v1/events?types=play.started,play.ended", { headers });
      } finally {
        opened();
      }
      if (!resp.ok || !resp.body) throw new Error("events: HTTP " + resp.status);
      const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf = (buf + value).replace(/\r\n/g, "\n");  // sse-starlette ends lines with CRLF
        let end;
        while ((end = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          let data = "";
          for (const line of block.split("\n")) {
            if (line.startsWith("id:")) lastId = line.slice(3).trim();
            else if (line.startsWith("data:")) data += line.slice(5).trim();
          }
          if (data) onPlayEvent(JSON.parse(data).data);
        }
      }
    } catch (err) {
      console.warn("plays feed:", err.message);
    }
    await new Promise((r) => setTimeout(r, REFRESH_MS));  // reconnect, resuming at lastId
  }
}

async function refresh() {
  try {
    const [diag, alerts, unknowns] = await Promise.all([
      api("/diagnostics"), api("/alerts"), api("/unknowns"),
    ]);
    render(diag, alerts);
    renderUnknowns(unknowns);
    if (playsFeed === null) {
      await new Promise((opened) => { playsFeed = followPlays(opened); });
    }
    if (playsPending !== null) {  // not loaded yet (or the last try failed)
      // a listed play's later events carry its id as play_id
      plays = (await api("/plays?limit=" + PLAYS_SHOWN)).map((p) => ({ ...p, play_id: p.id }));
      const pending = playsPending;
      playsPending = null;
      pending.forEach(onPlayEvent);
      renderPlays();
    }
    $("error").hidden = true;
    $("main").hidden = false;
    document.body.dataset.loaded = "true";
  } catch (err) {
    $("error").textContent = err.message;
    $("error").hidden = false;
    if (!token()) showLogin();
  }
}

function showLogin() {
  $("main").hidden = true;
  $("login").hidden = false;
}

let timer = null;
function start() {
  $("login").hidden = true;
  refresh();
  if (timer === null) timer = setInterval(refresh, REFRESH_MS);
}

$("login").addEventListener("submit", (ev) => {
  ev.preventDefault();
  sessionStorage.setItem(KEY, $("token").value.trim());
  start();
});

if (token()) start();
else showLogin();
