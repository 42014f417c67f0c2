// The Gantry dashboard page: renders each DashboardState (dashboard/model.ts) the server sends
// over /api/events. Plain DOM, no framework; every string from the cluster goes in through
// textContent or an attribute, never as HTML. The DOM contract in dashboard/model.ts is what
// the browser test reads: keep the data-* attributes as they are.

/** A new element: attributes (undefined ones skipped), then children (strings become text). */
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else e.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
  return e;
}

const fmt = {
  rate(n) {
    return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
  },
  ms(n) {
    return n === undefined ? '—' : n >= 100 ? `${n.toFixed(0)} ms` : `${n.toFixed(1)} ms`;
  },
  duration(s) {
    const a = Math.abs(s);
    const d = Math.floor(a / 86400);
    const h = Math.floor((a % 86400) / 3600);
    const m = Math.floor((a % 3600) / 60);
    const sec = a % 60;
    return d ? `${d}d ${h}h` : h ? `${h}h ${m}m` : m ? `${m}m ${sec}s` : `${sec}s`;
  },
};

function badge(c) {
  const cls =
    c.status === 'True' ? (c.type === 'Degraded' || c.type === 'Failed' ? 'bad' : 'ok') : c.status === 'False' ? 'bad' : 'unknown';
  const title = [c.reason, c.message].filter(Boolean).join(': ');
  return el('span', { class: `badge ${cls}`, title: title || undefined, 'data-condition': c.type, 'data-status': c.status }, c.type);
}

function callsCell(p) {
  const c = p.calls;
  if (!c) return el('td', { 'data-field': 'calls', class: 'muted' }, '—');
  const err = c.errorRate > 0 ? el('span', { class: 'bad-text' }, ` · ${fmt.rate(c.errorRate)}/s failed`) : '';
  const totals = Object.entries(c.totals)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  return el(
    'td',
    { 'data-field': 'calls', title: totals ? `since start: ${totals}` : undefined },
    `${fmt.rate(c.rate)}/s`,
    err,
    el('br'),
    el('span', { class: 'muted' }, `p50 ${fmt.ms(c.p50Ms)} · p99 ${fmt.ms(c.p99Ms)} · ${c.inFlight} in flight`),
  );
}

function autoscaleCell(p) {
  const a = p.autoscale;
  if (!a) return el('td', { class: 'muted' }, '—');
  const want = a.desiredReplicas === undefined ? '' : ` → ${a.desiredReplicas}`;
  return el(
    'td',
    { title: a.reason || undefined },
    `${a.min}–${a.max}${want}`,
    a.reason ? el('br') : '',
    a.reason ? el('span', { class: 'muted' }, a.reason) : '',
  );
}

function providerRow(p) {
  const ready = p.readyReplicas >= p.replicas;
  const archive = p.archive ? `${p.archive.ref}${p.archive.revision !== undefined ? ` r${p.archive.revision}` : ''}` : '';
  return el(
    'tr',
    { 'data-provider': `${p.namespace}/${p.name}` },
    el(
      'td',
      {},
      el('strong', {}, p.name),
      el('span', { class: 'muted' }, ` ${p.namespace}`),
      archive ? el('br') : '',
      archive ? el('span', { class: 'muted small' }, archive) : '',
    ),
    el('td', { 'data-field': 'ready', class: ready ? '' : 'warn-text' }, `${p.readyReplicas}/${p.replicas}`),
    el('td', { 'data-field': 'conditions' }, p.conditions.map(badge)),
    autoscaleCell(p),
    callsCell(p),
  );
}

function instanceCell(i) {
  const title = [
    `${i.namespace}/${i.name}`,
    `provider ${i.provider}`,
    `phase ${i.phase}${i.reason ? ` (${i.reason})` : ''}`,
    i.revision !== undefined ? `revision ${i.revision}` : '',
    `restarts ${i.restarts}`,
    i.oomKills ? `OOM kills ${i.oomKills}` : '',
    i.lastTermination ? `last ended ${i.lastTermination.reason} at ${i.lastTermination.at}` : '',
  ]
    .filter(Boolean)
    .join('\n');
  return el(
    'div',
    {
      class: `cell phase-${i.phase}`,
      title,
      'data-instance': `${i.namespace}/${i.name}`,
      'data-phase': i.phase,
      'data-restarts': i.restarts,
      'data-oom-kills': i.oomKills,
      'data-provider': i.provider,
    },
    el('span', { class: 'cell-name' }, i.provider),
    i.restarts ? el('span', { class: 'cell-tag' }, `↻${i.restarts}`) : '',
    i.oomKills ? el('span', { class: 'cell-tag oom' }, `OOM×${i.oomKills}`) : '',
  );
}

function placement(nodes) {
  const groups = new Map();
  for (const n of nodes) {
    if (!groups.has(n.archOs)) groups.set(n.archOs, []);
    groups.get(n.archOs).push(n);
  }
  if (!nodes.length) return [el('p', { class: 'muted' }, 'no nodes')];
  return [...groups].map(([archOs, ns]) =>
    el(
      'div',
      { class: 'group', 'data-arch-os': archOs },
      el('h3', {}, archOs),
      el(
        'div',
        { class: 'nodes' },
        ns.map((n) =>
          el(
            'div',
            { class: `node${n.ready ? '' : ' not-ready'}`, 'data-node': n.name },
            el(
              'div',
              { class: 'node-head' },
              el('strong', {}, n.name),
              ' ',
              n.ready ? '' : el('span', { class: 'badge bad' }, 'NotReady'),
              n.unschedulable ? el('span', { class: 'badge unknown' }, 'cordoned') : '',
            ),
            el(
              'div',
              { class: 'cells' },
              n.instances.length ? n.instances.map(instanceCell) : el('span', { class: 'muted small' }, 'no instances'),
            ),
          ),
        ),
      ),
    ),
  );
}

function logRow(l) {
  const inc = l.lastInconsistency;
  return el(
    'tr',
    { 'data-log': l.repository, class: inc ? 'bad-row' : '' },
    el('td', {}, l.repository),
    el('td', {}, l.size === undefined ? '—' : String(l.size)),
    el('td', { title: l.rootHash || undefined }, l.origin || el('span', { class: 'muted' }, 'no log')),
    el(
      'td',
      { title: inc?.message || undefined, class: inc ? 'bad-text' : 'muted' },
      inc ? `${inc.provider}${inc.at ? ` at ${inc.at}` : ''}` : 'none',
    ),
    el('td', { class: 'small' }, l.providers.join(', ')),
  );
}

/** Grants count down from when the state arrived (the server's clock, not the browser's). */
let receivedAt = Date.now();
function expiryText(g) {
  if (g.expiresInSeconds === undefined) return { text: g.expires ? g.expires : 'never', expired: false };
  const left = g.expiresInSeconds - Math.floor((Date.now() - receivedAt) / 1000);
  return left <= 0 ? { text: `expired ${fmt.duration(left)} ago`, expired: true } : { text: `in ${fmt.duration(left)}`, expired: false };
}

function grantRow(g) {
  const e = expiryText(g);
  return el(
    'tr',
    { 'data-grant': `${g.namespace}/${g.name}`, class: e.expired ? 'expired' : '' },
    el('td', {}, el('strong', {}, g.name), el('span', { class: 'muted' }, ` ${g.namespace}`)),
    el('td', {}, g.target),
    el('td', {}, g.operations.join(', ')),
    el('td', { class: 'key', title: g.grantee }, g.grantee.slice(0, 12) + (g.grantee.length > 12 ? '…' : '')),
    el('td', { title: g.reason || undefined }, g.ready ? 'Ready' : g.reason || 'not ready'),
    el('td', { 'data-field': 'expires', 'data-expires': g.expires, title: g.expires || undefined }, e.text),
  );
}

function tickGrants() {
  for (const td of document.querySelectorAll('#grants [data-field="expires"]')) {
    const row = td.closest('tr');
    const g = current?.grants.find((x) => `${x.namespace}/${x.name}` === row.dataset.grant);
    if (!g) continue;
    const e = expiryText(g);
    td.textContent = e.text;
    row.classList.toggle('expired', e.expired);
  }
}

function emptyRow(cols, text) {
  return el('tr', {}, el('td', { colspan: cols, class: 'muted' }, text));
}

let current;
function render(s) {
  current = s;
  receivedAt = Date.now();
  const u = new Map(s.unavailable.map((x) => [x.part, x]));
  const missing = (part, cols) => (u.has(part) ? emptyRow(cols, `cannot read ${part}: ${u.get(part).reason}`) : undefined);
  document.getElementById('cluster').textContent = `${s.cluster.context} · ${s.cluster.server} · as ${s.cluster.user}`;
  document
    .getElementById('notices')
    .replaceChildren(
      ...s.unavailable.map((x) =>
        el(
          'div',
          { class: 'notice', role: 'note', 'data-unavailable': x.part, 'data-reason': x.reason },
          el('strong', {}, `${x.part}: ${x.reason}`),
          ' ',
          x.message,
        ),
      ),
    );
  const rows = (id, items, row, cols, none, part) =>
    document
      .querySelector(`#${id} tbody`)
      .replaceChildren(...(items.length ? items.map(row) : [missing(part, cols) || emptyRow(cols, none)]));
  rows('providers', s.providers, providerRow, 5, 'no Providers', 'providers');
  document.getElementById('placement').replaceChildren(...placement(s.nodes));
  rows('logs', s.logs, logRow, 5, 'no archive repositories', 'providers');
  rows('grants', s.grants, grantRow, 6, 'no grants', 'grants');
  document.body.dataset.stateAt = s.at;
}

function setStream(v, text) {
  document.body.dataset.stream = v;
  document.getElementById('stream').textContent = text;
}

let source;
function connect() {
  source = new EventSource('api/events');
  source.addEventListener('state', (ev) => {
    render(JSON.parse(ev.data));
    setStream('live', 'live');
  });
  source.addEventListener('error', () => {
    setStream('lost', 'connection lost; reconnecting…');
    // EventSource retries by itself unless the server refused the stream outright
    if (source.readyState === EventSource.CLOSED) setTimeout(connect, 2000);
  });
}

connect();
setInterval(tickGrants, 1000);
