'use strict';
// The status page: polls /api/status, pages the state table server-side.
const $ = (id) => document.getElementById(id);
let page = 0;
const perPage = 100;

function text(el, s) { el.textContent = s; }

async function api(path, opts) {
  const r = await fetch(path, opts);
  if (r.status === 401) { location.reload(); throw new Error('logged out'); }
  return r.json();
}

function renderCarp(carp) {
  const body = $('carp').tBodies[0];
  body.replaceChildren();
  if (!carp || !carp.vhosts) return;
  for (const v of carp.vhosts) {
    const tr = body.insertRow();
    tr.id = 'vhid-' + v.vhid;
    const trans = Object.entries(v.transitions || {}).map(([k, n]) => k + ':' + n).join(' ');
    for (const [val, cls] of [[v.ifname], [v.vhid], [v.state, v.state], [v.demote], [trans]]) {
      const td = tr.insertCell();
      td.textContent = String(val);
      if (cls) td.className = cls + ' state';
    }
  }
}

// The peers' own words (config-sync Status frames): shown as text only.
function renderPeers(sync) {
  const body = $('peer-carp').tBodies[0];
  body.replaceChildren();
  if (!sync || !Array.isArray(sync.peer_status)) return;
  for (const p of sync.peer_status) {
    const carp = p.status && Array.isArray(p.status.carp) ? p.status.carp : [];
    for (const v of carp) {
      const tr = body.insertRow();
      tr.dataset.peer = String(p.peer);
      tr.dataset.vhid = String(v.vhid);
      for (const [val, cls] of [[p.peer], [v.ifname], [v.vhid], [v.state, v.state], [v.demote], [p.age_s + ' s ago']]) {
        const td = tr.insertCell();
        td.textContent = String(val);
        if (cls) td.className = String(cls) + ' state';
      }
    }
  }
}

// Config sync, one row per configured peer: where it is and how its last push went.
function renderSyncPeers(sync) {
  const body = $('sync-peers').tBodies[0];
  body.replaceChildren();
  if (!sync || !Array.isArray(sync.peers)) return;
  for (const p of sync.peers) {
    const tr = body.insertRow();
    tr.dataset.peer = String(p.peer);
    const gen = p.generation === undefined ? '?' : p.generation + ' (' + p.hash + ')';
    const push = p.last_push_age_s === undefined ? '-' : p.last_push_age_s + ' s ago';
    for (const val of [p.peer, p.connected ? 'yes' : 'no', gen, p.lag === undefined ? '?' : p.lag, push,
                       p.result || '-']) {
      tr.insertCell().textContent = String(val);
    }
  }
}

function renderFields(el, obj) {
  if (!obj) return;
  const parts = [];
  for (const [k, v] of Object.entries(obj)) {
    if (typeof v !== 'object') parts.push(k + ': ' + v);
  }
  text(el, parts.join(' · '));
}

async function refresh() {
  try {
    const s = await api('/api/status');
    text($('host'), s.hostname || '');
    const c = s.components || {};
    renderCarp(c.carp);
    renderPeers(c.sync);
    text($('maintenance'), s.maintenance ? 'on' : 'off');
    renderFields($('pfsync'), c.pfsync);
    renderFields($('sync'), c.sync);
    renderSyncPeers(c.sync);
    renderFields($('pflog'), c.pflog);
    renderFields($('filter'), s.filter);
  } catch (e) { text($('message'), String(e)); }
}

async function loadStates() {
  const q = encodeURIComponent($('q').value);
  const r = await api('/api/states?q=' + q + '&page=' + page + '&per=' + perPage);
  text($('states'), r.lines.join('\n'));
  const pages = Math.max(1, Math.ceil(r.total / perPage));
  text($('page'), 'page ' + (page + 1) + ' of ' + pages + ' (' + r.total + ' states)');
}

async function loadRules() {
  const r = await api('/api/rules');
  text($('rules'), r.text);
}

for (const b of document.querySelectorAll('button[data-action]')) {
  b.addEventListener('click', async () => {
    if (!confirm(b.dataset.confirm)) return;
    const r = await api('/api/action', {
      method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Hapf': '1' },
      body: JSON.stringify({ action: b.dataset.action }),
    });
    text($('message'), r.ok ? (b.dataset.action + ': done') : ('error: ' + r.error));
    refresh();
  });
}
$('state-search').addEventListener('submit', (e) => { e.preventDefault(); page = 0; loadStates(); });
$('prev').addEventListener('click', () => { if (page > 0) { page--; loadStates(); } });
$('next').addEventListener('click', () => { page++; loadStates(); });

refresh();
loadStates();
loadRules();
setInterval(refresh, 1000);
