// The les merchant console: overview, merchant page, what-if and upload, over /ui/api.
// Plain DOM and plotly.js (served by the service), no framework, no request off this host.
"use strict";

const STAGES = {
  order_receipt: "Order receipt", pick_pack: "Pick & pack",
  ship_transport: "Ship & transport", order_delivery: "Order delivery",
  demand_context: "Demand context",
};
const view = () => document.getElementById("view");
const status = (text) => { document.getElementById("status").textContent = text; };
const fmt = (v, digits = 2) => (v === null || v === undefined || Number.isNaN(v) ? "-" : Number(v).toFixed(digits));
const pct = (v) => (v === null || v === undefined ? "-" : `${(100 * v).toFixed(1)}%`);
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children.flat()) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
};

async function api(path, options = {}) {
  const response = await fetch(`api/${path}`, { credentials: "same-origin", ...options });
  if (response.status === 401) { window.location.href = "login"; throw new Error("sign in"); }
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

const state = { sort: "p_poor", order: "desc", stage: "", q: "", page: 1, page_size: 25 };

async function overview() {
  status("Loading merchants...");
  const query = new URLSearchParams(state).toString();
  let data;
  try { data = await api(`merchants?${query}`); } catch (err) { status(err.message); view().replaceChildren(); return; }
  document.getElementById("model").textContent = `${data.model.name} v${data.model.version} - ${data.source}`;
  const search = el("input", { id: "search", type: "search", value: state.q, placeholder: "merchant id" });
  search.addEventListener("change", () => { state.q = search.value; state.page = 1; overview(); });
  const stage = el("select", { id: "stage" }, el("option", { value: "" }, "any stage"),
    Object.entries(STAGES).filter(([k]) => k !== "demand_context").map(([k, v]) => el("option", { value: k }, v)));
  stage.value = state.stage;
  stage.addEventListener("change", () => { state.stage = stage.value; state.page = 1; overview(); });
  const sort = (key, label) => el("th", { class: "n", "aria-sort": state.sort === key ? (state.order === "desc" ? "descending" : "ascending") : "none" },
    el("button", { type: "button", "data-sort": key, onclick: () => {
      state.order = state.sort === key && state.order === "desc" ? "asc" : "desc"; state.sort = key; state.page = 1; overview();
    } }, label, state.sort === key ? (state.order === "desc" ? " \u25bc" : " \u25b2") : ""));
  const rows = data.rows.map((r) => el("tr", {},
    el("td", {}, el("a", { href: `#/m/${encodeURIComponent(r.merchant_id)}` }, r.merchant_id)),
    el("td", { class: "n" }, fmt(r.current_score)),
    el("td", { class: "hide-narrow" }, r.current_tier ?? "-"),
    el("td", {}, r.predicted_tier),
    el("td", { class: "n" }, fmt(r.predicted_score)),
    el("td", { class: `n ${r.change < 0 ? "neg" : "pos"}` }, r.change === null ? "-" : (r.change > 0 ? "+" : "") + fmt(r.change)),
    el("td", { class: "n" }, pct(r.p_poor)),
    el("td", { class: "hide-narrow" }, STAGES[r.worst_stage] ?? r.worst_stage)));
  const table = el("div", { class: "scroll" }, el("table", { id: "overview" },
    el("caption", {}, `${data.total.toLocaleString()} merchants, newest snapshot each`),
    el("thead", {}, el("tr", {}, el("th", {}, "Merchant"), el("th", { class: "n" }, "LES now"),
      el("th", { class: "hide-narrow" }, "Tier now"), el("th", {}, "Forecast tier"),
      sort("predicted_score", "Forecast score"), sort("change", "Change"), sort("p_poor", "P(Poor)"),
      el("th", { class: "hide-narrow" }, "Stage that hurts most"))),
    el("tbody", {}, rows)));
  const pager = el("nav", { class: "pager", "aria-label": "Pages" },
    el("button", { type: "button", id: "prev", onclick: () => { state.page -= 1; overview(); } }, "Previous"),
    el("span", { id: "page" }, `Page ${data.page} of ${data.pages}`),
    el("button", { type: "button", id: "next", onclick: () => { state.page += 1; overview(); } }, "Next"));
  pager.querySelector("#prev").disabled = data.page <= 1;
  pager.querySelector("#next").disabled = data.page >= data.pages;
  view().replaceChildren(el("h2", {}, "Where each shop is heading"),
    el("div", { class: "controls" }, el("label", { for: "search" }, "Search", search),
      el("label", { for: "stage" }, "Stage that hurts most", stage)), table, pager);
  status(`${data.total} merchants`);
}

function plot(id, traces, layout) {
  if (!window.Plotly) return;
  Plotly.react(id, traces, { margin: { l: 48, r: 12, t: 28, b: 40 }, height: 270, ...layout },
    { displayModeBar: false, responsive: true });
}

function forecastCard(explanation) {
  const f = explanation.forecast;
  return el("section", { class: "card", "aria-labelledby": "fc-h" },
    el("h3", { id: "fc-h" }, "Forecast"),
    el("p", {}, el("span", { class: "big", id: "forecast-tier" }, f.tier), " ",
      el("span", { id: "forecast-score" }, `score ${fmt(f.predicted_score)}`)),
    el("div", { id: "proba", class: "chart", role: "img", "aria-label": "tier probabilities: " +
      Object.entries(f.probabilities).map(([t, p]) => `${t} ${pct(p)}`).join(", ") }));
}

function drawExplanation(explanation) {
  const f = explanation.forecast;
  const tiers = Object.keys(f.probabilities);
  plot("proba", [{ type: "bar", x: tiers, y: tiers.map((t) => f.probabilities[t]), marker: { color: "#0d47a1" } }],
    { title: { text: "Tier probabilities (uncertainty)", font: { size: 13 } }, yaxis: { range: [0, 1], tickformat: ".0%" } });
  const a = explanation.score_attribution;
  const labels = ["base", ...a.stages.map((s) => s.label), "bounds", "forecast"];
  const values = [a.base_score, ...a.stages.map((s) => s.points), a.bounds_points, a.predicted_score];
  plot("waterfall", [{ type: "waterfall", x: labels, y: values,
    measure: ["absolute", ...a.stages.map(() => "relative"), "relative", "total"] }],
    { title: { text: "Stage waterfall (LES points)", font: { size: 13 } } });
  const wf = document.getElementById("waterfall");
  if (wf) wf.setAttribute("aria-label", "stage points: " + a.stages.map((s) => `${s.label} ${fmt(s.points)}`).join(", "));
}

function merchantSections(page) {
  const e = page.explanation;
  const top = el("table", {}, el("caption", {}, "Top features against the peer median"),
    el("thead", {}, el("tr", {}, el("th", {}, "Feature"), el("th", {}, "Stage"), el("th", { class: "n" }, "Value"),
      el("th", { class: "n" }, "Peer median"), el("th", { class: "n" }, "Points"))),
    el("tbody", {}, e.top_features.map((t) => el("tr", {}, el("td", { title: t.description }, t.feature),
      el("td", {}, STAGES[t.stage] ?? t.stage), el("td", { class: "n" }, fmt(t.value, 3)),
      el("td", { class: "n" }, fmt(t.peer_median, 3)), el("td", { class: `n ${t.points < 0 ? "neg" : "pos"}` }, fmt(t.points))))));
  const advice = el("ol", { id: "advice" }, e.advice.map((a) => el("li", {}, a.text)));
  return [
    el("div", { class: "cards" },
      el("section", { class: "card" }, el("h3", {}, "LES history"),
        el("div", { id: "history", class: "chart", role: "img", "aria-label": "LES score at each snapshot" })),
      forecastCard(e),
      el("section", { class: "card" }, el("h3", {}, "Why"),
        el("div", { id: "waterfall", class: "chart", role: "img" }))),
    el("div", { class: "scroll" }, top),
    el("section", {}, el("h3", {}, "What to fix first"), e.advice.length ? advice : el("p", {}, "No advice: no stage lies below the peers.")),
  ];
}

function drawHistory(page) {
  const h = page.history;
  const last = h[h.length - 1];
  const ahead = new Date(Date.parse(last.snapshot_at) + page.horizon_days * 864e5).toISOString().slice(0, 10);
  plot("history", [
    { type: "scatter", mode: "lines+markers", name: "LES (rulebook)", x: h.map((r) => r.snapshot_at), y: h.map((r) => r.les_score) },
    { type: "scatter", mode: "markers", name: "forecast", marker: { size: 11, symbol: "diamond", color: "#b71c1c" },
      x: [ahead], y: [page.explanation.forecast.predicted_score] },
  ], { yaxis: { range: [0, 5] }, showlegend: true, legend: { orientation: "h" } });
}

function whatIfPanel(page, onChange) {
  const groups = {};
  for (const input of page.what_if) (groups[input.stage] ||= []).push(input);
  const changes = {};
  let timer = null;
  const fields = Object.entries(groups).map(([stage, inputs]) => el("fieldset", {},
    el("legend", {}, STAGES[stage] ?? stage),
    el("div", { class: "whatif" }, inputs.map((i) => {
      const box = el("input", { type: "number", id: `wi-${i.feature}`, name: i.feature, step: "any",
        value: i.value === null ? "" : Number(i.value.toPrecision(4)), ...(i.minimum !== null ? { min: i.minimum } : {}), ...(i.maximum !== null ? { max: i.maximum } : {}) });
      box.addEventListener("input", () => {
        document.getElementById("whatif-result").textContent = "Re-scoring...";
        changes[i.feature] = box.value === "" ? null : Number(box.value);
        clearTimeout(timer);
        timer = setTimeout(() => onChange({ ...changes }), 250);
      });
      return el("label", { for: `wi-${i.feature}`, title: i.description }, `${i.feature} (${i.unit})`, box);
    }))));
  return el("section", { "aria-labelledby": "wi-h" }, el("h3", { id: "wi-h" }, "What if"),
    el("p", { class: "meta" }, "Change a stage's actionable features: the forecast and the stage points are re-scored by the model."),
    el("p", { id: "whatif-result", role: "status", "aria-live": "polite" }), fields);
}

async function merchant(id) {
  status(`Loading ${id}...`);
  let page;
  try { page = await api(`merchants/${encodeURIComponent(id)}`); } catch (err) { status(err.message); view().replaceChildren(); return; }
  const base = page.explanation.forecast;
  const onChange = async (changes) => {
    const out = document.getElementById("whatif-result");
    try {
      const answer = await api(`merchants/${encodeURIComponent(id)}/what-if`, {
        method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ changes }) });
      const f = answer.explanation.forecast;
      document.getElementById("forecast-tier").textContent = f.tier;
      document.getElementById("forecast-score").textContent = `score ${fmt(f.predicted_score)}`;
      drawExplanation(answer.explanation);
      out.textContent = `What-if forecast: ${f.tier}, score ${fmt(f.predicted_score)} (was ${base.tier}, ${fmt(base.predicted_score)})`;
    } catch (err) { out.textContent = err.message; }
  };
  view().replaceChildren(el("h2", {}, `Merchant ${page.merchant_id}`),
    el("p", { class: "meta" }, `snapshot ${page.snapshot_at}; forecast for the next ${page.horizon_days} days`),
    ...merchantSections(page), whatIfPanel(page, onChange));
  drawHistory(page);
  drawExplanation(page.explanation);
  status(`${page.merchant_id}: forecast ${base.tier}`);
}

const LAYOUTS = { contract: "les order contract (CSV, parquet)", "tiktok-shop": "TikTok Shop export",
  shopee: "Shopee export", shopify: "Shopify export", douyin: "Douyin shop report" };

function uploadPage() {
  const file = el("input", { type: "file", id: "file", accept: ".csv,.parquet,.xlsx", multiple: "" });
  const layout = el("select", { id: "layout" }, Object.entries(LAYOUTS).map(([k, v]) => el("option", { value: k }, v)));
  const market = el("input", { id: "market", size: "4", placeholder: "US" });
  const shop = el("input", { id: "shop", placeholder: "my-shop" });
  const policy = el("input", { type: "file", id: "policy", accept: ".yaml,.yml" });
  const results = el("div", { id: "upload-results" });
  // One request for all files: a shop's history often spans several exports (90 days each).
  const send = async (picked) => {
    const names = picked.map((f) => f.name).join(", ");
    status(`Reading ${names}...`);
    const body = new FormData();
    for (const f of picked) body.append("file", f, f.name);
    if (policy.files.length) body.append("policy", policy.files[0], policy.files[0].name);
    let answer;
    try {
      const query = new URLSearchParams({ layout: layout.value, market: market.value, shop_id: shop.value });
      answer = await api(`upload?${query}`, { method: "POST", body });
    } catch (err) { status(err.message); results.replaceChildren(el("p", { role: "alert", class: "neg" }, err.message)); return; }
    const files = answer.files.length > 1 ? ` from ${answer.files.length} files` : "";
    const copies = answer.superseded_copies ? `; ${answer.superseded_copies} copies of orders found in more than one file kept once` : "";
    const terms = answer.policy ? `; deadlines from ${answer.policy}` : "";
    const parts = [el("p", { id: "upload-summary" },
      `${answer.rows} rows${files}: ${answer.valid_rows} valid, ${answer.rejected_rows} rejected${copies}${terms}`)];
    if (answer.rejected_rows) {
      const columns = Object.keys(answer.rejected[0]).filter((c) => ["reject_reason", "order_id", "merchant_id", "Order ID", "source_file"].includes(c));
      parts.push(el("div", { class: "scroll" }, el("table", { id: "rejected" }, el("caption", {}, "Rows the order contract rejects, with their reasons"),
        el("thead", {}, el("tr", {}, columns.map((c) => el("th", {}, c)))),
        el("tbody", {}, answer.rejected.map((r) => el("tr", {}, columns.map((c) => el("td", {}, r[c] ?? "-"))))))));
    }
    results.replaceChildren(...parts);
    if (answer.merchants.length) {
      const page = answer.merchants[0];
      results.append(el("h2", {}, `Merchant ${page.merchant_id}`), ...merchantSections(page));
      drawHistory(page);
      drawExplanation(page.explanation);
    }
    status(`${names}: ${answer.valid_rows} orders read, ${answer.rejected_rows} rejected`);
  };
  file.addEventListener("change", () => file.files.length && send([...file.files]));
  const drop = el("div", { class: "drop", id: "drop" }, el("p", {}, "Drop order files here (the les order contract, CSV or parquet, or one platform's exports: all of a shop's files at once), or "),
    el("label", { for: "file" }, "choose files ", file));
  drop.addEventListener("dragover", (ev) => { ev.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (ev) => { ev.preventDefault(); drop.classList.remove("over"); if (ev.dataTransfer.files.length) send([...ev.dataTransfer.files]); });
  const options = el("div", { class: "controls" }, el("label", { for: "layout" }, "Layout", layout),
    el("label", { for: "market" }, "Market (exports)", market), el("label", { for: "shop" }, "Shop id (exports)", shop),
    el("label", { for: "policy" }, "Your deadline policy (exports, optional YAML)", policy));
  view().replaceChildren(el("h2", {}, "Upload orders"), options, drop, results);
  status("");
}

function route() {
  const hash = window.location.hash || "#/";
  if (hash.startsWith("#/m/")) merchant(decodeURIComponent(hash.slice(4)));
  else if (hash === "#/upload") uploadPage();
  else overview();
}
window.addEventListener("hashchange", route);
document.addEventListener("DOMContentLoaded", route);
