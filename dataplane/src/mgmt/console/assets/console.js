// The console page: polls /api/state every second and draws it; actions are POSTs carrying the
// page's CSRF token, and their answer (the control path's message or refusal) is shown in #result.
"use strict";

const CSRF = document.querySelector('meta[name="csrf-token"]').content;
const POLL_MS = 1000;

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const k of kids) e.append(k);
  return e;
}

function fmtRate(x) {
  if (x >= 1e9) return (x / 1e9).toFixed(1) + "G";
  if (x >= 1e6) return (x / 1e6).toFixed(1) + "M";
  if (x >= 1e3) return (x / 1e3).toFixed(1) + "k";
  return x.toFixed(x < 10 && x > 0 ? 1 : 0);
}

function showResult(ok, text) {
  const r = document.getElementById("result");
  r.hidden = false;
  r.className = ok ? "ok" : "err";
  r.textContent = text;
}

// POSTs a request; shows the control path's message or its refusal.
async function post(path, body) {
  try {
    const resp = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": CSRF },
      body: JSON.stringify(body),
    });
    const text = await resp.text();
    let v;
    try { v = JSON.parse(text); } catch (_) { v = { ok: false, error: text.trim() }; }
    if (v.ok) showResult(true, (v.result && v.result.message) || "done");
    else showResult(false, v.error || ("HTTP " + resp.status));
    return v.ok;
  } catch (e) {
    showResult(false, "the console did not answer: " + e);
    return false;
  }
}

// `198.19.0.11:80`, `[2001:db8:1::11]:80`: an address and a port as ctl writes them.
function hostPort(addr, port) { return (addr.includes(":") ? `[${addr}]` : addr) + ":" + port; }

function realKey(svc, r) { return svc.name + " " + hostPort(r.addr, r.port); }

function serviceTable(svc) {
  const t = el("table", { class: "service", "data-service": svc.name });
  const persist = svc.persistence ? ` persistent ${svc.persistence.timeout_s}s` : "";
  t.append(el("caption", {},
    `${svc.name}: ${svc.protocol.toUpperCase()} ${hostPort(svc.vip, svc.port)} ${svc.scheduler} ${svc.forward}${persist}`));
  t.append(el("thead", {}, el("tr", {},
    ...["real", "health", "forward", "weight", "active", "inactive", "conn/s", "pkt/s in", "pkt/s out", "B/s in", "B/s out", "conns", ""]
      .map((h) => el("th", {}, h)))));
  t.append(el("tbody"));
  return t;
}

function realRow(svc, r) {
  const real = hostPort(r.addr, r.port);
  const row = el("tr", { class: "real", "data-service": svc.name, "data-real": real });
  const cell = (cls) => el("td", { class: cls });
  const weight = el("input", { class: "weight", type: "number", min: 0, max: 65535 });
  const set = el("button", { class: "set-weight", type: "button", textContent: "Set" });
  const drain = el("button", { class: "drain", type: "button", textContent: "Drain" });
  set.onclick = () => {
    const w = weight.value.trim();
    if (!/^\d+$/.test(w)) { showResult(false, "weight: a whole number from 0 to 65535"); return; }
    post("/api/ctl", { cmd: "weight", service: svc.name, real: real, weight: Number(w) })
      .then(() => { weight.dataset.edited = ""; refresh(); });
  };
  drain.onclick = () => {
    post("/api/ctl", { cmd: "drain", service: svc.name, real: real })
      .then(() => { weight.dataset.edited = ""; refresh(); });
  };
  weight.oninput = () => { weight.dataset.edited = "1"; };
  row.append(el("td", { class: "addr" }, real), cell("health"), cell("forward"),
    el("td", { class: "weight-cell" }, weight, " ", set),
    cell("active num"), cell("inactive num"), cell("cps num"), cell("pps-in num"), cell("pps-out num"),
    cell("bps-in num"), cell("bps-out num"), cell("conns num"), el("td", {}, drain));
  return row;
}

function updateRow(row, r) {
  const q = (c) => row.querySelector("td." + c.split(" ")[0]);
  const up = r.available;
  row.classList.toggle("down", !up);
  const h = q("health");
  h.replaceChildren(el("span", { class: "badge " + (up ? "up" : "down") }, up ? "up" : "down"));
  // At its upper_threshold: no new connections until it falls below the lower one.
  if (r.overloaded) h.append(" ", el("span", { class: "badge overloaded" }, "overloaded"));
  q("forward").textContent = r.forward;
  const w = row.querySelector("input.weight");
  row.dataset.weight = String(r.weight);
  if (document.activeElement !== w && !w.dataset.edited) w.value = String(r.weight);
  q("active").textContent = r.active;
  q("inactive").textContent = r.inactive;
  const rate = r.rate || {};
  q("cps").textContent = fmtRate(rate.cps || 0);
  q("pps-in").textContent = fmtRate(rate.pps_in || 0);
  q("pps-out").textContent = fmtRate(rate.pps_out || 0);
  q("bps-in").textContent = fmtRate(rate.bps_in || 0);
  q("bps-out").textContent = fmtRate(rate.bps_out || 0);
  q("conns").textContent = (r.stats && r.stats.conns) || 0;
}

function drawServices(list) {
  const box = document.getElementById("services");
  const seen = new Set();
  for (const svc of list.services) {
    let t = box.querySelector(`table.service[data-service="${CSS.escape(svc.name)}"]`);
    if (!t) { t = serviceTable(svc); box.append(t); }
    const body = t.tBodies[0];
    for (const r of svc.reals) {
      const key = realKey(svc, r);
      seen.add(key);
      let row = body.querySelector(`tr.real[data-real="${CSS.escape(hostPort(r.addr, r.port))}"]`);
      if (!row) { row = realRow(svc, r); body.append(row); }
      row.dataset.key = key;
      updateRow(row, r);
    }
  }
  // Services and reals a reload removed.
  for (const row of box.querySelectorAll("tr.real")) if (!seen.has(row.dataset.key)) row.remove();
  const names = new Set(list.services.map((s) => s.name));
  for (const t of box.querySelectorAll("table.service")) if (!names.has(t.dataset.service)) t.remove();
}

function drawWorkers(workers) {
  const body = document.querySelector("#workers tbody");
  body.replaceChildren(...workers.map((w) => {
    const drops = Object.entries(w.drops).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(", ");
    return el("tr", { class: "worker", "data-worker": String(w.worker) },
      el("td", {}, String(w.worker)),
      el("td", { class: "load num" }, (w.load * 100).toFixed(1) + " %"),
      el("td", { class: "num" }, fmtRate(w.rx_pps)),
      el("td", { class: "num" }, fmtRate(w.tx_pps)),
      el("td", { class: "num" }, String(w.rx)),
      el("td", { class: "num" }, String(w.tx)),
      el("td", { class: "drops" }, drops || "none"));
  }));
}

async function refresh() {
  const live = document.getElementById("live");
  try {
    const resp = await fetch("/api/state", { cache: "no-store" });
    if (!resp.ok) throw new Error("HTTP " + resp.status + ": " + (await resp.text()).trim());
    const v = await resp.json();
    if (v.ok === false) throw new Error(v.error);
    drawServices(v.list);
    drawWorkers(v.workers);
    live.className = "ok";
    live.textContent = "live, updated " + new Date().toLocaleTimeString();
  } catch (e) {
    live.className = "stale";
    live.textContent = "not updating: " + e.message;
  }
}

async function loadConfig() {
  try {
    const resp = await fetch("/api/config", { cache: "no-store" });
    const v = await resp.json();
    if (v.ok === false) throw new Error(v.error);
    document.getElementById("config-path").textContent = v.path || "(none)";
    document.getElementById("config").textContent = v.yaml;
  } catch (e) {
    document.getElementById("config").textContent = "cannot read the running config: " + e.message;
  }
}

document.getElementById("check").onclick = () => post("/api/check", {});
document.getElementById("check-text").onclick = () =>
  post("/api/check", { text: document.getElementById("candidate").value });
document.getElementById("reload").onclick = () =>
  post("/api/ctl", { cmd: "reload" }).then(() => { loadConfig(); refresh(); });

refresh();
loadConfig();
setInterval(refresh, POLL_MS);
