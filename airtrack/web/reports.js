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

async function download(format) {
  const params = new URLSearchParams({ from: $("from").value, to: $("to").value, format });
  if ($("tz").value.trim()) params.set("tz", $("tz").value.trim());
  for (const opt of $("stations").selectedOptions) params.append("stream", opt.value);
  const report = $("report").value;
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
  link.download = `airtrack-${report}-${$("from").value}-${$("to").value}.${format}`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
  $("report-status").textContent = `downloaded ${link.download}`;
}

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
