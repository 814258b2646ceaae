// The dashboard page: polls /api/pool and the selected run's /api/runs/:id
// every 2 s and redraws. Plain browser JavaScript (no build step); uPlot
// (window.uPlot) draws the curves. ?run=<id> selects a run.
'use strict';

const POLL_MS = 2000;
const FINAL = ['COMPLETED', 'FAILED', 'CANCELLED'];
let selected = new URLSearchParams(location.search).get('run');
let charts = {};
let chartsFor = null;

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c ?? ''));
  return e;
}

function fillTable(sel, rows) {
  const body = $(`${sel} tbody`);
  body.replaceChildren(...rows);
}

function duration(s) {
  if (!Number.isFinite(s) || s <= 0) return '';
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.round(s % 60);
  return h ? `${h}h ${m}m` : m ? `${m}m ${sec}s` : `${sec}s`;
}

function bytes(n) {
  return n > 1e9 ? `${(n / 1e9).toFixed(2)} GB` : n > 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${(n / 1e3).toFixed(0)} kB`;
}

async function getJson(url, init) {
  const r = await fetch(url, { cache: 'no-store', ...init });
  if (!r.ok) throw new Error(`${url}: ${r.status}`);
  return r.json();
}

function renderPool(pool) {
  fillTable('#workers', pool.workers.map((w) => el('tr', {},
    el('td', {}, w.id), el('td', {}, w.host), el('td', {}, w.gpu === null ? 'cpu' : `gpu ${w.gpu}`),
    el('td', {}, w.busy ? 'busy' : 'idle'), el('td', {}, w.busy ?? ''),
    el('td', { class: 'muted' }, `${Math.max(0, Math.round((pool.now - w.at) / 1000))} s ago`))));
  fillTable('#queues', Object.entries(pool.queues).map(([name, c]) => el('tr', {},
    el('td', {}, name), ...['waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed'].map((k) => el('td', {}, String(c[k] ?? 0))))));
  fillTable('#runs', pool.runs.map((r) => {
    const p = r.status.progress;
    const frac = p && p.max_steps ? p.step / p.max_steps : 0;
    const tr = el('tr', { 'data-run': r.id, class: r.id === selected ? 'selected' : '' },
      el('td', {}, r.name ? `${r.id}` : r.id),
      el('td', {}, el('span', { class: `state ${r.state}` }, r.state)),
      el('td', {}, p ? el('span', { class: 'bar' }, el('span', { style: `width:${Math.round(frac * 100)}%` })) : '',
        p ? `stage ${p.stage} step ${p.step}/${p.max_steps}` : ''),
      el('td', {}, p && Number.isFinite(p.loss) ? p.loss.toFixed(4) : ''),
      el('td', {}, p && !FINAL.includes(r.state) ? duration(p.eta_s) : ''),
      el('td', {}, r.worldSize ? String(r.worldSize) : 'any'),
      el('td', {}, String(r.restarts)),
      el('td', { class: 'message' }, r.message));
    tr.addEventListener('click', () => select(r.id));
    return tr;
  }));
}

function chart(id, label, color) {
  const target = $(`#${id}`);
  target.replaceChildren();
  const u = new uPlot({
    width: Math.max(360, target.clientWidth || 420),
    height: 200,
    scales: { x: { time: false } },
    axes: [
      { label: 'global step', incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000] },
      { size: 64, values: (_u, vals) => vals.map(tick) },
    ],
    series: [{ label: 'step' }, { label, stroke: color, width: 1.5, spanGaps: true }],
  }, [[], []], target);
  return { u, target };
}

/** Axis labels that stay distinct from 1e-6 (learning rates) to 1e5 (early perplexities). */
function tick(v) {
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a < 0.01 || a >= 1e5 ? v.toExponential(1) : a >= 100 ? String(Math.round(v)) : String(Number(v.toPrecision(3)));
}

function setSeries(c, xs, ys) {
  const pairs = xs.map((x, i) => [x, ys[i]]).filter(([, y]) => y !== null && Number.isFinite(y));
  c.u.setData([pairs.map((p) => p[0]), pairs.map((p) => p[1])]);
  c.target.dataset.points = String(pairs.length);
}

function renderRun(run) {
  $('#run').hidden = false;
  $('#run-title').textContent = run.name ? `${run.id} (${run.name})` : run.id;
  const st = $('#run-state');
  st.textContent = run.state;
  st.className = `state ${run.state}`;
  $('#run-dir').textContent = run.runDir ? `run folder ${run.runDir}${run.message ? ` · ${run.message}` : ''}` : run.message;
  $('#cancel').disabled = FINAL.includes(run.state);
  if (chartsFor !== run.id) {
    charts = {
      loss: chart('chart-loss', 'loss', '#3b7ddd'),
      lr: chart('chart-lr', 'lr', '#8e44ad'),
      perplexity: chart('chart-perplexity', 'perplexity', '#d35400'),
      accuracy: chart('chart-accuracy', 'accuracy', '#27ae60'),
    };
    chartsFor = run.id;
  }
  setSeries(charts.loss, run.curves.step, run.curves.loss);
  setSeries(charts.lr, run.curves.step, run.curves.lr);
  setSeries(charts.perplexity, run.evals.step, run.evals.perplexity);
  setSeries(charts.accuracy, run.evals.step, run.evals.accuracy);
  fillTable('#plans', run.plans.map((p) => el('tr', {}, ...[p.stage, p.seqLen, p.worldSize, p.microBatch, p.globalBatch, p.accumulation,
    Number(p.epochs).toFixed(2), p.maxSteps, p.warmupSteps].map((v) => el('td', {}, String(v))))));
  fillTable('#checkpoints', run.checkpoints.map((c) => el('tr', {},
    el('td', {}, c.file), el('td', {}, bytes(c.bytes)), el('td', {}, new Date(c.modifiedMs).toLocaleString()))));
}

function select(id) {
  selected = id;
  const q = new URLSearchParams(location.search);
  q.set('run', id);
  q.delete('token');
  history.replaceState(null, '', `?${q}`);
  for (const tr of document.querySelectorAll('#runs tbody tr')) tr.classList.toggle('selected', tr.dataset.run === id);
  void refresh();
}

$('#cancel').addEventListener('click', async () => {
  if (!selected) return;
  $('#cancel').disabled = true;
  await getJson(`/api/runs/${encodeURIComponent(selected)}/cancel`, { method: 'POST', headers: { 'X-Gradpool-Action': 'cancel' } });
  void refresh();
});

let busy = false;
async function refresh() {
  if (busy) return;
  busy = true;
  try {
    const pool = await getJson('/api/pool');
    renderPool(pool);
    if (!selected && pool.runs.length) selected = pool.runs[0].id;
    if (selected) renderRun(await getJson(`/api/runs/${encodeURIComponent(selected)}`));
    $('#updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (e) {
    $('#updated').textContent = `update failed: ${e.message}`;
  } finally {
    busy = false;
  }
}

void refresh();
setInterval(refresh, POLL_MS);
