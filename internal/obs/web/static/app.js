"use strict";
// The Sluice UI: one page that renders the JSON API by the hash route and
// re-renders every second while the application runs. Everything comes
// from this origin.
const main = document.getElementById("main");
const crumbs = document.getElementById("crumbs");
const live = document.getElementById("live");
const api = "/api/v1/applications";

const esc = s => String(s ?? "").replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
const num = n => (n ?? 0).toLocaleString("en-US");
const bytes = n => { n = n || 0; const u = ["B", "KiB", "MiB", "GiB", "TiB"]; let i = 0; while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; } return (i ? n.toFixed(1) : n) + " " + u[i]; };
const ms = n => n == null ? "" : n < 1000 ? n + " ms" : (n / 1000).toFixed(1) + " s";
const dur = (a, b) => a ? ms((b || Date.now()) - a) : "";
const status = s => `<span class="${esc(s)}">${esc(s)}</span>`;
const get = async path => { const r = await fetch(path, {cache: "no-store"}); if (!r.ok) throw new Error(path + ": " + r.status + " " + (await r.text())); return path.endsWith(".svg") ? r.text() : r.json(); };
const table = (cols, rows, id) => `<table${id ? ` id="${id}"` : ""}><thead><tr>${cols.map(c => `<th>${esc(c[0])}</th>`).join("")}</tr></thead><tbody>` +
  rows.map(r => `<tr>${cols.map(c => { const v = c[1](r); return `<td${typeof v === "number" ? ' class="num"' : ""}>${typeof v === "number" ? num(v) : v}</td>`; }).join("")}</tr>`).join("") + `</tbody></table>`;

let page = {offset: 0, length: 100, sortBy: ""};

async function appsPage() {
  const apps = await get(api);
  if (apps.length === 1 && !location.hash.startsWith("#/apps")) { location.hash = `#/app/${apps[0].id}`; return; }
  crumbs.textContent = "";
  main.innerHTML = `<h2>Applications</h2>` + table([
    ["id", a => `<a href="#/app/${esc(a.id)}">${esc(a.id)}</a>`], ["name", a => esc(a.name)], ["status", a => status(a.status) + (a.crashed ? " (crashed)" : "")],
    ["duration", a => dur(a.startTime, a.endTime)]], apps, "apps");
}

async function appPage(app) {
  const base = `${api}/${app}`;
  const [info, jobs, workers, c] = await Promise.all([get(base), get(`${base}/jobs`), get(`${base}/executors`), get(`${base}/counters`)]);
  crumbs.innerHTML = `› <a href="#/app/${esc(app)}">${esc(info.name || app)}</a> ${status(info.status)}${info.crashed ? " (crashed)" : ""}`;
  const alive = workers.filter(w => w.state === "alive").length;
  main.innerHTML = `<h2>Jobs</h2>` + table([
    ["job", j => `<a href="#/app/${esc(app)}/job/${j.id}">${j.id}</a>`], ["name", j => esc(j.name)], ["status", j => status(j.status)],
    ["stages", j => (j.stages || []).length], ["duration", j => dur(j.start, j.end)], ["error", j => `<span class="err">${esc(j.error)}</span>`]],
    jobs.slice().reverse(), "jobs") +
    `<p><a href="#/app/${esc(app)}/workers">Workers</a>: ${alive} alive of ${workers.length}</p>` +
    `<h3>Counters</h3>` + table([["counter", r => esc(r[0])], ["value", r => r[1]]], [
      ["tasks launched", num(c.tasksLaunched)], ["tasks succeeded", num(c.tasksSucceeded)], ["tasks failed", num(c.tasksFailed)], ["tasks lost", num(c.tasksLost)],
      ["speculative copies", num(c.tasksSpeculative)], ["tasks recomputed", num(c.tasksRecomputed)], ["stages resubmitted", num(c.stageResubmissions)],
      ["fetch failures", num(c.fetchFailures)], ["workers lost", num(c.workersLost)], ["shuffle records read", num(c.recordsIn)], ["shuffle records written", num(c.recordsOut)],
      ["shuffle bytes written", bytes(c.shuffleWriteBytes)], ["shuffle bytes read", bytes(c.shuffleReadBytes)], ["spilled", bytes(c.spillBytes)]], "counters");
  return info;
}

async function jobPage(app, job) {
  const base = `${api}/${app}`;
  const [info, j, stages, svg] = await Promise.all([get(base), get(`${base}/jobs/${job}`), get(`${base}/stages`), get(`${base}/jobs/${job}/dag.svg`)]);
  crumbs.innerHTML = `› <a href="#/app/${esc(app)}">${esc(info.name || app)}</a> › job ${j.id} ${status(j.status)}`;
  const mine = stages.filter(s => s.job === j.id || (j.stages || []).includes(s.id));
  main.innerHTML = `<h2>Job ${j.id}: ${esc(j.name)}</h2><div id="dag">${svg}</div><h3>Stages</h3>` + table([
    ["stage", s => `<a href="#/app/${esc(app)}/stage/${s.id}/${s.attempt}">${s.id}.${s.attempt}</a>`], ["kind", s => esc(s.kind)],
    ["operations", s => esc(s.name)], ["status", s => status(s.status)], ["tasks", s => `${num(s.done)}/${num(s.tasks)}`],
    ["running", s => s.running], ["failed", s => s.failedTasks], ["shuffle read", s => bytes(s.totals.shuffleReadBytes)],
    ["shuffle write", s => bytes(s.totals.shuffleWriteBytes)], ["duration", s => dur(s.start, s.end)]], mine, "stages");
  return info;
}

const metricNames = [["durationMs", "duration", ms], ["schedulerDelayMs", "scheduler delay", ms], ["recordsIn", "records in", num], ["recordsOut", "records out", num],
  ["bytesIn", "bytes in", bytes], ["bytesOut", "bytes out", bytes], ["shuffleReadBytes", "shuffle read", bytes], ["shuffleWriteBytes", "shuffle write", bytes],
  ["fetchWaitMs", "fetch wait", ms], ["spillBytes", "spill", bytes]];

async function stagePage(app, stage, attempt) {
  const base = `${api}/${app}/stages/${stage}/${attempt}`;
  const q = `offset=${page.offset}&length=${page.length}` + (page.sortBy ? `&sortBy=${encodeURIComponent(page.sortBy)}` : "");
  const [info, st, sum, tasks] = await Promise.all([get(`${api}/${app}`), get(base), get(`${base}/taskSummary`), get(`${base}/taskList?${q}`)]);
  crumbs.innerHTML = `› <a href="#/app/${esc(app)}">${esc(info.name || app)}</a> › <a href="#/app/${esc(app)}/job/${st.job}">job ${st.job}</a> › stage ${st.id}.${st.attempt} ${status(st.status)}`;
  const qs = sum.quantiles.map(q => q === 0 ? "min" : q === 1 ? "max" : q === 0.5 ? "median" : (q * 100) + "%");
  const sumRows = metricNames.map(([k, label, f]) => ({label, vals: (sum.metrics[k] || []).map(f)}));
  main.innerHTML = `<h2>Stage ${st.id}.${st.attempt}: ${esc(st.name)}</h2><p>${num(st.done)}/${num(st.tasks)} tasks done, ${st.running} running, ${st.failedTasks} failed${st.droppedTasks ? `, ${num(st.droppedTasks)} task rows not kept` : ""}</p>` +
    `<h3>Summary over finished tasks</h3>` + table([["metric", r => esc(r.label)], ...qs.map((q, i) => [q, r => esc(r.vals[i])])], sumRows, "summary") +
    `<h3>Tasks</h3><div class="pager"><button id="prev">‹ prev</button><button id="next">next ›</button> sort: <select id="sort">` +
    ["", "partition", "-durationMs", "durationMs", "launch", "status", "worker"].map(s => `<option${s === page.sortBy ? " selected" : ""}>${s}</option>`).join("") + `</select> from ${page.offset}</div>` +
    table([["task", t => t.id], ["partition", t => t.partition], ["attempt", t => t.attempt], ["worker", t => esc(t.worker)], ["role", t => esc(t.role)],
      ["status", t => status(t.status)], ["duration", t => ms(t.durationMs ?? (t.end ? t.end - t.launch : Date.now() - t.launch))], ["scheduler delay", t => ms(t.schedulerDelayMs)],
      ["records in", t => t.recordsIn || 0], ["records out", t => t.recordsOut || 0], ["bytes in", t => bytes(t.bytesIn)], ["bytes out", t => bytes(t.bytesOut)],
      ["shuffle read", t => bytes(t.shuffleReadBytes)], ["shuffle write", t => bytes(t.shuffleWriteBytes)], ["fetch wait", t => ms(t.fetchWaitMs)],
      ["spill", t => bytes(t.spillBytes)], ["", t => (t.speculative ? "speculative " : "") + (t.recomputed ? "recomputed" : "")], ["error", t => `<span class="err">${esc(t.error)}</span>`]], tasks, "tasks");
  document.getElementById("prev").onclick = () => { page.offset = Math.max(0, page.offset - page.length); render(); };
  document.getElementById("next").onclick = () => { if (tasks.length === page.length) { page.offset += page.length; render(); } };
  document.getElementById("sort").onchange = e => { page.sortBy = e.target.value; page.offset = 0; render(); };
  return info;
}

async function workersPage(app) {
  const base = `${api}/${app}`;
  const [info, workers] = await Promise.all([get(base), get(`${base}/executors`)]);
  crumbs.innerHTML = `› <a href="#/app/${esc(app)}">${esc(info.name || app)}</a> › workers`;
  const t0 = Math.min(info.start, ...workers.map(w => w.added)), t1 = info.end || Date.now(), span = Math.max(t1 - t0, 1);
  const bars = workers.map((w, i) => { const a = (w.added - t0) / span * 100, b = ((w.removed || t1) - t0) / span * 100;
    return `<div class="bar ${esc(w.state === "lost" || w.state === "decommissioned" ? w.state : w.role)}" title="${esc(w.name)} ${esc(w.state)}" style="left:${a}%;width:${Math.max(b - a, 0.5)}%;top:${i * 18 + 2}px">${esc(w.name)}</div>`; }).join("");
  main.innerHTML = `<h2>Workers</h2>` + table([["name", w => esc(w.name)], ["role", w => esc(w.role)], ["state", w => esc(w.state)], ["slots", w => w.slots || 0],
    ["running", w => w.running], ["completed", w => w.completed], ["shuffle held", w => bytes(w.shuffleBytesWritten)],
    ["added", w => new Date(w.added).toISOString()], ["lost", w => w.removed ? new Date(w.removed).toISOString() + " " + esc(w.reason) : ""],
    ...(info.workerProfiles ? [["debug", w => w.state === "alive" || w.state === "draining" ? `<a href="/debug/workers/${encodeURIComponent(w.name)}/pprof/">pprof</a> <a href="/debug/workers/${encodeURIComponent(w.name)}/pprof/goroutine?debug=2">goroutines</a>` : ""]] : [])], workers, "workers") +
    (info.workerProfiles ? `<p>This driver: <a href="/debug/pprof/">pprof</a> <a href="/debug/pprof/goroutine?debug=2">goroutines</a></p>` : "") +
    `<h3>Timeline</h3><div class="timeline" style="height:${workers.length * 18 + 4}px">${bars}</div>`;
  return info;
}

let timer, lastRoute;
async function render() {
  clearTimeout(timer);
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  const route = parts.join("/");
  if (route !== lastRoute && !route.includes("/stage/")) page.offset = 0;
  lastRoute = route;
  let info;
  try {
    if (parts[0] === "app" && parts[2] === "job") info = await jobPage(parts[1], parts[3]);
    else if (parts[0] === "app" && parts[2] === "stage") info = await stagePage(parts[1], parts[3], parts[4]);
    else if (parts[0] === "app" && parts[2] === "workers") info = await workersPage(parts[1]);
    else if (parts[0] === "app") info = await appPage(parts[1]);
    else await appsPage();
  } catch (e) {
    main.textContent = String(e);
  }
  const running = !info || info.status === "RUNNING";
  live.textContent = running ? "live" : "";
  if (running) timer = setTimeout(render, 1000);
}
window.addEventListener("hashchange", render);
render();
