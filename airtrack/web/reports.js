// airtrack reports page: pick a range and stations, download CSV or XLSX from
// /api/v1/reports/... with the admin token the dashboard keeps in this tab.
"use strict";

const KEY = "airtrack.adminToken";
const $ = (id) => document.getElementById(id);
const token = () => sessionStorage.getItem(KEY);

function lastMonth() {
  const now = new Date();
  const first = new Date(now.getFullYear(), now.getMonth() - 1, 1);
  const last = new Date(now.getFullYear(), now.getMonth(), 0);
  const iso = (d) =>
    `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
  return [iso(first), iso(last)];
}

async function loadStations() {
  const resp = await fetch("/api/v1/streams", {
    headers: { Authorization: "Bearer " + token() },
    cache: "no-store",
  });
  if (!resp.ok) throw new Error("streams: HTTP " + resp.status);
  const streams = await resp.json();
  $("stations").replaceChildren(
    ...streams.map((s) => {
      const opt = document.createElement("option");
      opt.value = s.name;
      opt.textContent = s.name;
      return opt;
    })
  );
}

function showOptions() {
  // The SoundExchange file has its own options and one format (ASCII text).
  const se = $("report").value === "soundexchange";
  $("soundexchange-options").hidden = !se;
  $("download-txt").hidden = !se;
  for (const b of document.querySelectorAll("button.tabular")) b.hidden = se;
}

async function download(format) {
  const report = $("report").value;
  const params = new URLSearchParams({ from: $("from").value, to: $("to").value });
  if (report === "soundexchange") {
    if ($("service-name").value.trim()) params.set("service_name", $("service-name").value.trim());
    params.set("category", $("category").value);
    if ($("play-frequency").checked) params.set("play_frequency", "true");
  } else {
    params.set("format", format);
  }
  if ($("tz").value.trim()) params.set("tz", $("tz").value.trim());
  for (const opt of $("stations").selectedOptions) params.append("stream", opt.value);
  $("report-error").hidden = true;
  $("report-status").textContent = "preparing…";
  const resp = await fetch(`/api/v1/reports/${report}?${params}`, {
    headers: { Authorization: "Bearer " + token() },
  });
  if (!resp.ok) {
    let detail = "HTTP " + resp.status;
    try {
      detail = (await resp.json()).detail || detail;
    } catch (_) {}
    throw new Error(detail);
  }
  const blob = await resp.blob();
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  // The server names the SoundExchange file by its convention (station, period, category).
  const named = /filename="([^"]+)"/.exec(resp.headers.get("Content-Disposition") || "");
  link.download = named
    ? named[1]
    : `airtrack-${report}-${$("from").value}-${$("to").value}.${format}`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
  let status = `downloaded ${link.download}`;
  const missing = Number(resp.headers.get("X-Airtrack-Unidentified-Count") || 0);
  if (missing) {
    const listed = JSON.parse(resp.headers.get("X-Airtrack-Unidentified") || "[]");
    status += ` — ${missing} recording(s) without ISRC or album + label: ${listed.join("; ")}`;
  }
  $("report-status").textContent = status;
}

$("report").addEventListener("change", showOptions);

$("report-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const format = ev.submitter ? ev.submitter.dataset.format : "csv";
  download(format).catch((err) => {
    $("report-status").textContent = "";
    $("report-error").textContent = err.message;
    $("report-error").hidden = false;
  });
});

if (!token()) {
  $("need-login").hidden = false;
} else {
  const [from, to] = lastMonth();
  $("from").value = from;
  $("to").value = to;
  $("reports-main").hidden = false;
  loadStations()
    .then(() => document.body.setAttribute("data-loaded", "true"))
    .catch((err) => {
      $("report-error").textContent = err.message;
      $("report-error").hidden = false;
    });
}
