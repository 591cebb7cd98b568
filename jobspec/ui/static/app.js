// The page of `jobspec ui`: the jobs table (#/), a job's page (#/job/ID), a group's page
// (#/group/local/NAME). Reads the JSON API of jobspec/ui/server.py; nothing from elsewhere.
"use strict";

const TOKEN_KEY = "jobspec-ui-token";
const state = { timer: null, route: null, filters: { name: "", state: "", target: "" },
                local: null, cloud: null, open: {} };

function esc(value) {
  return String(value === null || value === undefined ? "" : value)
    .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

function token() { return sessionStorage.getItem(TOKEN_KEY); }

function takeToken() {
  const found = /(?:^#|&)token=([A-Za-z0-9_-]+)/.exec(location.hash);
  if (found) {
    sessionStorage.setItem(TOKEN_KEY, found[1]);
    history.replaceState(null, "", location.pathname + "#/");
  }
  const el = document.getElementById("token-state");
  el.textContent = token() ? "actions enabled" : "read-only (open the address with #token=… that `jobspec ui` printed to cancel or rerun)";
}

async function getJSON(url) {
  const response = await fetch(url, { cache: "no-store" });
  const data = await response.json();
  if (!response.ok) { throw new Error(data.error || response.statusText); }
  return data;
}

async function act(action, id) {
  const response = await fetch("/api/" + action, {
    method: "POST", headers: { "Content-Type": "application/json", "X-Jobspec-Token": token() || "" },
    body: JSON.stringify({ id: id }) });
  const data = await response.json();
  if (!response.ok) { throw new Error(data.error || response.statusText); }
  return data;
}

function later(fn, ms) { clearTimeout(state.timer); state.timer = setTimeout(fn, ms); }

function duration(seconds, start, running) {
  if (seconds === null || seconds === undefined) {
    if (!running || !start) { return ""; }
    seconds = Math.max(0, (Date.now() - Date.parse(start)) / 1000);
  }
  const s = Math.round(seconds);
  if (s < 60) { return s + " s"; }
  if (s < 3600) { return Math.floor(s / 60) + " min " + (s % 60) + " s"; }
  return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
}

function when(stamp) {
  if (!stamp) { return ""; }
  const d = new Date(stamp);
  return isNaN(d) ? String(stamp) : d.toISOString().replace("T", " ").slice(0, 19) + "Z";
}

function cost(c) {
  if (!c || typeof c.usd !== "number") { return ""; }
  return (c.lower_bound ? "≥ " : "") + "$" + Number(c.usd).toFixed(4);
}

function stateCell(s) { return `<span class="state ${esc(s)}">${esc(s)}</span>`; }

// --- the jobs table --------------------------------------------------------------------------

function allRows() {
  const local = state.local ? state.local.rows : [];
  const cloud = state.cloud ? state.cloud.rows : [];
  return local.concat(cloud);
}

function allGroups() {
  const local = state.local ? state.local.groups.map(g => Object.assign({ where: "local" }, g)) : [];
  const cloud = state.cloud ? state.cloud.groups.map(g => Object.assign({ where: "cloud" }, g)) : [];
  return local.concat(cloud);
}

function matches(row) {
  const f = state.filters;
  return (!f.name || String(row.name).toLowerCase().includes(f.name.toLowerCase()))
    && (!f.state || row.state === f.state) && (!f.target || row.target === f.target);
}

function rowHTML(row, cls) {
  const who = [row.user, row.host].filter(Boolean).join(" @ ");
  const link = `#/job/${encodeURIComponent(row.id)}`;
  const running = row.state === "running";
  return `<tr class="${cls}${row.latest === false ? " earlier" : ""}" data-id="${esc(row.id)}" data-state="${esc(row.state)}">`
    + `<td><a href="${link}">${esc(row.name)}</a>${row.latest === false ? ' <span class="muted">(earlier run)</span>' : ""}</td>`
    + `<td>${esc(row.where)}${row.region ? " " + esc(row.region) : ""}</td><td>${esc(row.target)}</td><td>${stateCell(row.state)}</td>`
    + `<td>${esc(when(row.start))}</td><td>${esc(duration(row.seconds, row.start, running))}</td>`
    + `<td>${esc(who)}</td><td>${esc(cost(row.cost))}</td><td>${esc(row.spec)}</td>`
    + `<td>${esc(row.commit ? String(row.commit).slice(0, 10) : "")}</td></tr>`;
}

function groupState(members) {
  const states = members.map(r => r.state);
  for (const s of ["running", "queued", "pending", "failed", "lost", "interrupted", "cancelled"]) {
    if (states.includes(s)) { return s; }
  }
  return states.length && states.every(s => s === "succeeded") ? "succeeded" : (states[0] || "not run");
}

function renderTable() {
  const main = document.getElementById("main");
  const rows = allRows();
  const groups = allGroups();
  const inGroup = new Map();
  for (const g of groups) {
    for (const m of g.members) { inGroup.set(g.where + "/" + (g.target || "") + "/" + m, g); }
  }
  const key = r => r.where + "/" + (r.where === "cloud" ? r.target : "") + "/" + r.name;
  const byStart = (a, b) => String(b.start || "").localeCompare(String(a.start || ""));
  const shown = rows.filter(matches);
  const loose = shown.filter(r => !inGroup.has(key(r)));
  const parts = [];
  const entries = loose.map(r => ({ start: r.start, html: rowHTML(r, "job") }));
  for (const g of groups) {
    const gkey = g.where + "/" + (g.target || "") + "/";
    const members = shown.filter(r => inGroup.get(key(r)) === g && key(r).startsWith(gkey));
    if (!members.length && (state.filters.name || state.filters.state || state.filters.target)) { continue; }
    const latest = rows.filter(r => inGroup.get(key(r)) === g && r.latest !== false);
    const gid = g.where === "local" ? `group/local/${g.name}` : `cloud/${g.target}/${g.name}`;
    const open = state.open[gid] !== false;
    const start = members.map(r => r.start).sort().reverse()[0] || g.created;
    let html = `<tr class="group" data-group="${esc(gid)}" data-kind="${esc(g.kind)}"><td>`
      + `<a href="#" class="toggle" data-toggle="${esc(gid)}">${open ? "▾" : "▸"}</a> `
      + `<a href="${g.where === "local" ? "#/" + esc(gid) : "#/job/" + encodeURIComponent(gid)}">${esc(g.name)}</a> `
      + `<span class="muted">${esc(g.kind)}, ${g.members.length} ${g.kind === "study" ? "trials" : "members"}</span></td>`
      + `<td>${esc(g.where)}</td><td>${esc(g.target || (latest[0] && latest[0].target) || "")}</td>`
      + `<td>${stateCell(groupState(latest))}</td><td>${esc(when(start))}</td><td colspan="5"></td></tr>`;
    if (open) { html += members.sort(byStart).map(r => rowHTML(r, "member")).join(""); }
    entries.push({ start: start, html: html });
  }
  entries.sort(byStart);
  parts.push(entries.map(e => e.html).join(""));
  const states = [...new Set(rows.map(r => r.state))].sort();
  const targets = [...new Set(rows.map(r => r.target).filter(Boolean))].sort();
  const option = (v, cur) => `<option value="${esc(v)}"${v === cur ? " selected" : ""}>${esc(v)}</option>`;
  const notes = state.cloud ? state.cloud.notes : [];
  const f = state.filters;
  const focused = document.activeElement && document.activeElement.id;
  main.innerHTML = `<div class="filters">
      <input id="filter-name" placeholder="name" value="${esc(f.name)}">
      <select id="filter-state"><option value="">every state</option>${states.map(s => option(s, f.state)).join("")}</select>
      <select id="filter-target"><option value="">every target</option>${targets.map(t => option(t, f.target)).join("")}</select>
      <span class="muted" id="counts">${shown.length} of ${rows.length} runs and jobs${state.cloud ? "" : "; cloud jobs loading…"}</span>
    </div>
    ${notes.map(n => `<div class="notes">${esc(n)}</div>`).join("")}
    <table id="jobs"><thead><tr><th>Name</th><th>Where</th><th>Target</th><th>State</th>
      <th>Started</th><th>Duration</th><th>Who @ where</th><th>Cost</th><th>Spec</th><th>Commit</th></tr></thead>
      <tbody>${parts.join("")}</tbody></table>`;
  for (const id of ["filter-name", "filter-state", "filter-target"]) {
    const el = document.getElementById(id);
    el.addEventListener(id === "filter-name" ? "input" : "change", () => {
      state.filters[id.slice(7)] = el.value; renderTable();
    });
  }
  if (focused === "filter-name") {
    const el = document.getElementById("filter-name");
    el.focus(); el.setSelectionRange(el.value.length, el.value.length);
  }
  for (const el of main.querySelectorAll("[data-toggle]")) {
    el.addEventListener("click", ev => {
      ev.preventDefault();
      const id = el.dataset.toggle;
      state.open[id] = state.open[id] === false;
      renderTable();
    });
  }
}

async function showJobs() {
  const route = state.route;
  const load = async () => {
    try { state.local = await getJSON("/api/local"); } catch (e) { state.local = { rows: [], groups: [] }; }
    if (state.route !== route) { return; }
    document.getElementById("root").textContent = state.local.root || "";
    renderTable();
  };
  const loadCloud = async () => {
    try { state.cloud = await getJSON("/api/cloud"); } catch (e) { state.cloud = { rows: [], groups: [], notes: [String(e.message)] }; }
    if (state.route === route) { renderTable(); }
  };
  await load();
  loadCloud();
  const tick = async () => {
    if (state.route !== route) { return; }
    await load();
    loadCloud();
    const running = allRows().some(r => ["running", "queued", "pending"].includes(r.state));
    later(tick, running ? 1500 : 5000);
  };
  later(tick, 1500);
}

// --- a job's page --------------------------------------------------------------------------

function markTracebacks(text) {
  // a Python traceback: from "Traceback (most recent call last):" to the exception line
  // ("ValueError: ...", "KeyboardInterrupt"); the trainer's stdout may be interleaved with it
  // (two pipes), so a plain line inside it is shown unmarked and the traceback goes on
  const lines = text.split("\n");
  const out = [];
  let inside = false;
  let plain = 0;
  for (const line of lines) {
    const body = line.replace(/^[\w./-]+ \| /, "");
    if (body.startsWith("Traceback (most recent call last):")) { inside = true; plain = 0; }
    const part = inside && (/^\s/.test(body) || body.startsWith("Traceback") || body === ""
      || body.startsWith("During handling") || body.startsWith("The above exception"));
    const last = inside && !part && /^[A-Za-z_][\w.]*(: |:$|$)/.test(body);
    if (part || last) {
      out.push(`<span class="traceback">${esc(line)}</span>`);
      if (last) { inside = false; }
    } else {
      out.push(esc(line) + "\n");
      if (inside && ++plain > 200) { inside = false; }
    }
  }
  return out.join("").replace(/\n$/, "");
}

function plot(el, name, points) {
  const width = Math.min(720, Math.max(320, el.clientWidth || 640));
  const opts = { title: name, width: width, height: 220, scales: { x: { time: false } },
                 series: [{ label: "step" }, { label: name, stroke: "#1a73e8", width: 2, points: { show: points.length < 60 } }],
                 axes: [{ label: "step" }, {}] };
  return new uPlot(opts, [points.map(p => p[0]), points.map(p => p[1])], el);
}

function renderMetrics(metrics) {
  const el = document.getElementById("metrics");
  if (!metrics || !metrics.length) { el.innerHTML = '<p class="muted">no metrics: the trainer wrote no metrics.json in its job dir and no cloudml-hypertune file</p>'; return; }
  const signature = JSON.stringify(metrics);
  if (el.dataset.signature === signature) { return; }
  el.dataset.signature = signature;
  el.innerHTML = "";
  for (const m of metrics) {
    const box = document.createElement("div");
    box.innerHTML = `<div class="muted">${esc(m.source)}: ${esc(m.file)}</div>`;
    el.appendChild(box);
    const values = Object.entries(m.values || {});
    if (values.length) {
      box.insertAdjacentHTML("beforeend", `<table class="values">${values.map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join("")}</table>`);
    }
    for (const [name, points] of Object.entries(m.series || {})) {
      const chart = document.createElement("div");
      chart.className = "chart";
      chart.dataset.metric = name;
      box.appendChild(chart);
      plot(chart, name, points);
    }
  }
}

function kv(pairs) {
  return `<table class="kv">${pairs.filter(p => p[1] !== null && p[1] !== undefined && p[1] !== "")
    .map(([k, v]) => `<tr><td>${esc(k)}</td><td>${v}</td></tr>`).join("")}</table>`;
}

function renderJob(job) {
  const running = ["running", "queued", "pending"].includes(job.state);
  const main = document.getElementById("main");
  const history = (job.history || []).map(h => `<tr><td>${esc(when(h.at))}</td><td>${stateCell(h.state)}</td></tr>`).join("");
  const err = job.error ? `<div class="banner">${esc(job.error.message || JSON.stringify(job.error))}</div>` : "";
  const plan = job.where === "local" ? job.plan : { request: job.request, claim: job.claim };
  main.innerHTML = `<h1>${esc(job.name)} ${stateCell(job.state)}</h1>
    ${err}
    ${kv([["where", esc(job.where)], ["target", esc(job.target)], ["run", esc(job.run)],
          ["started", esc(when(job.start))], ["ended", esc(when(job.end))],
          ["duration", esc(duration(job.seconds, job.start, running))],
          ["exit code", esc(job.exit_code)], ["who", esc([job.user, job.host].filter(Boolean).join(" @ "))],
          ["region", esc(job.region)], ["cost", esc(cost(job.cost))], ["spec", esc(job.spec)],
          ["commit", esc(job.commit)], ["record", esc(job.record)], ["group", job.group ? `<a href="#/group/local/${esc(job.group)}">${esc(job.group)}</a>` : ""],
          ["console", job.console ? `<a id="console" href="${esc(job.console)}" target="_blank" rel="noopener noreferrer">${esc(job.console)}</a>` : ""]])}
    <div class="actions">
      <button id="cancel" class="danger"${running && job.latest !== false ? "" : " disabled"}>Cancel</button>
      <code class="cmd">${esc(job.cancel_command)}</code>
      <button id="rerun">Copy rerun command</button>
      <span id="action-result" class="muted"></span>
    </div>
    ${job.study ? `<section><h2>Study</h2>${renderStudy(job)}</section>` : ""}
    <section><h2>Metrics</h2><div id="metrics"></div></section>
    <section><h2>Log <a href="#" id="jump-traceback" hidden>jump to the traceback</a>
      <select id="task-filter"><option value="">every task</option></select>
      <span id="log-state" class="muted"></span></h2><pre id="log"></pre></section>
    <section><h2>State history</h2><table id="history">${history}</table></section>
    <section><h2>${job.where === "local" ? "Plan" : "Request and claim"}</h2><pre id="plan">${esc(JSON.stringify(plan, null, 2))}</pre></section>`;
  renderMetrics(job.metrics);
  if (job.study) { plotStudy(job.study); }
  document.getElementById("cancel").addEventListener("click", async ev => {
    const button = ev.currentTarget;
    button.disabled = true;  // the server also ignores a second cancel of the same job
    const result = document.getElementById("action-result");
    try {
      const answer = await act("cancel", job.id);
      result.textContent = answer.message || answer.result || JSON.stringify(answer);
      result.dataset.result = answer.result || "";
    } catch (e) { result.textContent = e.message; button.disabled = false; }
  });
  document.getElementById("rerun").addEventListener("click", async () => {
    const result = document.getElementById("action-result");
    try {
      const answer = await act("rerun", job.id);
      result.textContent = answer.command + (answer.note ? "  (" + answer.note + ")" : "");
      result.dataset.command = answer.command;
      if (navigator.clipboard) { navigator.clipboard.writeText(answer.command).catch(() => {}); }
    } catch (e) { result.textContent = e.message; }
  });
}

async function showJob(id) {
  const route = state.route;
  const parts = id.split("/");
  const base = parts.map(encodeURIComponent).join("/");
  let job;
  try { job = await getJSON("/api/job/" + base); }
  catch (e) { document.getElementById("main").innerHTML = `<div class="banner">${esc(e.message)}</div>`; return; }
  if (job.kind === "group") { renderGroup(job); return; }
  renderJob(job);
  const log = { offset: 0, text: "", tasks: new Set(job.tasks || []) };
  const pre = document.getElementById("log");
  const filter = document.getElementById("task-filter");
  const draw = () => {
    const task = filter.value;
    // a line's task is its "TASK | " prefix (a sweep member's may read "NAME/TASK | ")
    const prefix = new RegExp("^(?:[^ |]*/)?" + task.replace(/[.*+?^${}()|[\]\\]/g, "\\$&") + " *\\| ");
    const text = task ? log.text.split("\n").filter(l => prefix.test(l)).join("\n") : log.text;
    const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.innerHTML = markTracebacks(text);
    if (atEnd) { pre.scrollTop = pre.scrollHeight; }
    const jump = document.getElementById("jump-traceback");
    jump.hidden = !pre.querySelector(".traceback");
  };
  filter.addEventListener("change", draw);
  document.getElementById("jump-traceback").addEventListener("click", ev => {
    ev.preventDefault();
    const found = pre.querySelectorAll(".traceback");
    if (found.length) { found[found.length - 1].scrollIntoView({ block: "center" }); }
  });
  const addTasks = tasks => {
    for (const t of tasks) {
      if (![...filter.options].some(o => o.value === t)) { filter.add(new Option(t, t)); }
    }
  };
  if (log.tasks.size > 1) { addTasks(log.tasks); }
  const follow = async () => {
    if (state.route !== route) { return; }
    let chunk;
    try { chunk = await getJSON(`/api/log/${base}?offset=${log.offset}`); }
    catch (e) { document.getElementById("log-state").textContent = e.message; later(follow, 3000); return; }
    if (state.route !== route) { return; }
    if (chunk.tasks && chunk.tasks.length > 1) { addTasks(chunk.tasks); }
    if (chunk.text) { log.text += chunk.text; log.offset = chunk.next; draw(); }
    else { log.offset = chunk.next; }
    document.getElementById("log-state").textContent = chunk.running ? "following…" : "";
    const more = chunk.text && chunk.text.length > 100000;
    if (chunk.running || more) { later(follow, more ? 10 : 1000); return; }
    // the job ended: its final state, end time and metrics
    try {
      const done = await getJSON("/api/job/" + base);
      if (state.route === route && done.state !== job.state) {
        const keep = log.text;
        renderJob(done); job = done;
        const again = document.getElementById("log");
        again.innerHTML = markTracebacks(keep);
        document.getElementById("jump-traceback").hidden = !again.querySelector(".traceback");
      }
    } catch (e) { /* shown at the next visit */ }
  };
  follow();
}

function renderStudy(group) {
  // a tuning study's own page: its trials with their parameters and metric, the metric per
  // trial plotted, the best trial marked (data: jobspec/ui/studies.py study_page)
  const s = group.study;
  if (!s) { return ""; }
  const params = s.parameters || [];
  const metric = v => (typeof v === "number" ? Number(v.toPrecision(6)) : "-");
  const rows = s.trials.map(t => {
    const best = t.id === s.best;
    const name = t.run ? `<a href="#/job/${encodeURIComponent(t.run)}">${esc(t.name)}</a>` : esc(t.name);
    return `<tr class="${best ? "best" : ""}" data-trial="${esc(t.id)}"><td>${esc(t.id)}${best ? " ★ best" : ""}</td><td>${name}</td>`
      + params.map(p => `<td>${esc((t.parameters || {})[p])}</td>`).join("")
      + `<td>${esc(metric(t.metric))}</td><td>${stateCell(t.state)}</td><td>${esc(t.reason || "")}</td></tr>`;
  }).join("");
  const algorithm = String(s.algorithm || "").toLowerCase().replace(/_/g, " ").replace(/ search$/, "");
  return `<p>${esc(algorithm || "the service's default")} search, ${esc((s.goal || "").toLowerCase())} ${esc(s.metric)}: ${stateCell(s.state)} ${esc(s.reason || "")}</p>
    <div id="study-plot" class="chart" data-metric="${esc(s.metric)}"></div>
    <table id="trials"><thead><tr><th>Trial</th><th>Run</th>${params.map(p => `<th>${esc(p)}</th>`).join("")}
      <th>${esc(s.metric)}</th><th>State</th><th>Reason</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function plotStudy(study) {
  const el = document.getElementById("study-plot");
  const done = study.trials.filter(t => typeof t.metric === "number" && !isNaN(Number(t.id)))
    .sort((a, b) => Number(a.id) - Number(b.id));
  if (!el || !done.length) { return; }
  const dots = (color, size) => ({ show: true, size: size, stroke: color, fill: color });
  new uPlot({ title: `${study.metric} per trial (best in red)`, width: Math.min(720, Math.max(320, el.clientWidth || 640)),
              height: 240, scales: { x: { time: false } }, legend: { show: true },
              series: [{ label: "trial" },
                       { label: study.metric, stroke: "#1a73e8", paths: () => null, points: dots("#1a73e8", 9) },
                       { label: "best", stroke: "#d93025", paths: () => null, points: dots("#d93025", 15) }],
              axes: [{ label: "trial", incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500] }, {}] },
            [done.map(t => Number(t.id)), done.map(t => t.metric), done.map(t => (t.id === study.best ? t.metric : null))], el);
}

function renderGroup(group) {
  const rows = group.rows || group.members || [];
  const members = `<table id="members"><thead><tr><th>Name</th><th>State</th><th>Started</th><th>Job</th></tr></thead><tbody>
    ${rows.map(r => `<tr data-id="${esc(r.id || "")}"><td>${r.id ? `<a href="#/job/${encodeURIComponent(r.id)}">${esc(r.name)}</a>` : esc(r.name)}</td>
      <td>${stateCell(r.state)}</td><td>${esc(when(r.start))}</td><td>${r.console ? `<a href="${esc(r.console)}" target="_blank" rel="noopener noreferrer">${esc(r.job)}</a>` : esc(r.job || "")}</td></tr>`).join("")}
    </tbody></table>`;
  document.getElementById("main").innerHTML = `<h1>${esc(group.name)} <span class="muted">${esc(group.kind || "matrix")}</span></h1>
    <div class="actions"><code class="cmd">${esc(group.cancel_command)}</code></div>
    ${group.study ? renderStudy(group) : members}`;
  if (group.study) { plotStudy(group.study); }
}

async function showGroup(name) {
  const route = state.route;
  let group;
  try { group = await getJSON("/api/group/local/" + encodeURIComponent(name)); }
  catch (e) { document.getElementById("main").innerHTML = `<div class="banner">${esc(e.message)}</div>`; return; }
  if (state.route !== route) { return; }
  renderGroup(group);
  const running = group.study ? group.study.state === "running"
    : (group.rows || []).some(r => r.state === "running");
  if (running) { later(() => { if (state.route === route) { showGroup(name); } }, 2000); }
}

// --- routes ----------------------------------------------------------------------------------

function route() {
  clearTimeout(state.timer);
  const hash = location.hash.replace(/^#/, "") || "/";
  state.route = hash + "@" + Date.now();
  let m;
  if ((m = /^\/job\/(.+)$/.exec(hash))) { showJob(decodeURIComponent(m[1])); }
  else if ((m = /^\/group\/local\/(.+)$/.exec(hash))) { showGroup(decodeURIComponent(m[1])); }
  else { showJobs(); }
}

takeToken();
window.addEventListener("hashchange", route);
route();
