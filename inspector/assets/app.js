// aliasgate inspector: the live list of captured exchanges, their detail,
// and the route builder. Everything shown comes from the gateway's own API
// and is inserted as text, never as HTML.
'use strict';

(function () {
  const api = '/ui/api/';
  const listBody = document.querySelector('#list tbody');
  const empty = document.getElementById('empty');
  const detail = document.getElementById('detail-pane');
  const live = document.getElementById('live');
  const count = document.getElementById('count');
  const rows = new Map(); // capture id -> tr
  let size = 0;
  let selected = 0;
  let current = null; // the capture shown in detail
  let building = null; // {capture, field}

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v;
      else if (k.startsWith('data-')) e.setAttribute(k, v);
      else e[k] = v;
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  async function call(method, path, body) {
    const opts = {method, headers: {'X-Aliasgate-Inspector': '1'}, credentials: 'same-origin'};
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    const res = await fetch(api + path, opts);
    if (res.status === 401) {
      window.location.assign('/ui/login');
      throw new Error('not logged in');
    }
    let data = null;
    try { data = await res.json(); } catch (e) { data = {error: 'the answer is not JSON'}; }
    return {status: res.status, data};
  }

  // The list.

  function fmtTime(t) {
    const d = new Date(t);
    return d.toLocaleTimeString([], {hour12: false}) + '.' + String(d.getMilliseconds()).padStart(3, '0');
  }

  function statusClass(s) {
    if (s >= 500) return 's5';
    if (s >= 400) return 's4';
    if (s >= 300) return 's3';
    return 's2';
  }

  function row(c) {
    const tr = el('tr', {'data-id': String(c.id)},
      el('td', {class: 'mono'}, fmtTime(c.time)),
      el('td', {}, el('span', {class: 'dir ' + c.direction}, c.direction === 'inbound' ? 'in' : 'out')),
      el('td', {class: 'mono'}, c.method),
      el('td', {class: 'mono host', title: c.host}, c.host),
      el('td', {class: 'mono path'}, c.path),
      el('td', {class: 'mono'}, c.route),
      el('td', {class: 'mono'}, (c.filters || []).join(', ')),
      el('td', {class: 'mono ' + statusClass(c.status)}, c.status),
      el('td', {class: 'mono num'}, c.duration_ms.toFixed(1)));
    tr.addEventListener('click', () => select(c.id));
    if (c.id === selected) tr.classList.add('selected');
    return tr;
  }

  function add(c, atTop) {
    if (rows.has(c.id)) return;
    const tr = row(c);
    rows.set(c.id, tr);
    if (atTop) listBody.prepend(tr); else listBody.append(tr);
    while (size > 0 && rows.size > size) {
      const oldest = Math.min(...rows.keys());
      rows.get(oldest).remove();
      rows.delete(oldest);
    }
    empty.hidden = rows.size > 0;
    count.textContent = rows.size + ' captured (keeps ' + size + ')';
  }

  // loadList adds the buffered captures below the ones the event stream
  // brought; after a reset it starts over.
  async function loadList(reset) {
    const {status, data} = await call('GET', 'captures');
    if (status !== 200) return;
    size = data.size;
    if (reset) {
      rows.clear();
      listBody.replaceChildren();
    }
    for (const c of data.captures) add(c, false);
    empty.hidden = rows.size > 0;
    count.textContent = rows.size + ' captured (keeps ' + size + ')';
  }

  function connect() {
    const es = new EventSource(api + 'events');
    let opened = false;
    es.addEventListener('open', () => {
      live.textContent = 'live';
      live.className = 'badge on';
      if (opened) loadList(true); // after a reconnection: fill what was missed
      opened = true;
    });
    es.addEventListener('error', () => { live.textContent = 'reconnecting…'; live.className = 'badge off'; });
    es.addEventListener('capture', (ev) => add(JSON.parse(ev.data), true));
    es.addEventListener('reset', () => loadList(true));
  }

  // The detail.

  async function select(id) {
    selected = id;
    for (const [k, tr] of rows) tr.classList.toggle('selected', k === id);
    const {status, data} = await call('GET', 'captures/' + id);
    if (status !== 200) {
      detail.replaceChildren(el('p', {class: 'error'}, data.error || 'cannot load the capture'));
      return;
    }
    current = data;
    renderDetail(data);
  }

  function renderDetail(c) {
    const head = el('div', {class: 'd-head'},
      el('h2', {}, el('span', {class: 'mono'}, c.method + ' ' + c.host + c.path + (c.query ? '?' + c.query : ''))),
      el('p', {class: 'muted'},
        c.direction + ' · route ' + c.route + (c.filters.length ? ' · filters ' + c.filters.join(', ') : ' · no filter applied') +
        ' · status ' + c.status + ' · ' + c.duration_ms.toFixed(1) + ' ms total, ' +
        c.vault_ms.toFixed(1) + ' ms vault, ' + c.upstream_ms.toFixed(1) + ' ms upstream'));
    const outTo = c.direction === 'inbound' ? 'upstream' : 'destination';
    detail.replaceChildren(head,
      passage('Request', c.request, [['received', 'received from the client (masked)'], ['sent', 'sent to the ' + outTo]], c.id, true),
      passage('Response', c.response, [['received', 'received from the ' + outTo], ['sent', 'sent to the client']], c.id, false));
  }

  function passage(title, p, tabs, id, clickable) {
    const box = el('section', {class: 'passage'});
    const bar = el('div', {class: 'tabs'}, el('h3', {}, title));
    const body = el('div', {class: 'view'});
    const buttons = [];
    function show(k) {
      buttons.forEach((b, j) => b.classList.toggle('active', tabs[j][0] === k));
      body.replaceChildren(view(p[k], id, clickable && k === 'received', k));
    }
    for (const [k, label] of tabs) {
      const b = el('button', {type: 'button', class: 'tab'}, label);
      b.addEventListener('click', () => show(k));
      buttons.push(b);
      bar.append(b);
    }
    box.append(bar, body);
    show(tabs[0][0]);
    return box;
  }

  function view(v, id, clickable, side) {
    if (!v) {
      return el('p', {class: 'muted'}, side === 'sent'
        ? 'Not sent on: the gateway answered itself (a refusal, or no upstream).'
        : 'Nothing received.');
    }
    const wrap = el('div', {});
    const table = el('table', {class: 'headers'});
    for (const h of v.headers) {
      const val = el('td', {class: 'mono'}, h.value);
      const tr = el('tr', {}, el('th', {class: 'mono'}, h.name), val);
      if (clickable && h.field >= 0) {
        tr.classList.add('field');
        tr.title = 'build a route that redacts this header';
        tr.addEventListener('click', () => openBuilder(id, v.fields[h.field]));
      }
      table.append(tr);
    }
    wrap.append(table);
    if (v.note) wrap.append(el('p', {class: 'note'}, v.note));
    if (v.body) {
      const pre = el('pre', {class: 'code body'});
      if (v.parts && v.parts.length) {
        for (const part of v.parts) {
          if (part.f < 0) { pre.append(part.t); continue; }
          const f = v.fields[part.f];
          const span = el('span', {class: 'value' + (clickable ? ' field' : ''), 'data-path': f.path, 'data-kind': f.kind}, part.t);
          if (/\*/.test(f.value)) span.classList.add('masked');
          if (clickable) {
            span.title = f.kind + ' ' + f.path + ' (' + f.hint + '): click to build a route that redacts it';
            span.addEventListener('click', () => {
              for (const p of document.querySelectorAll('.picked')) p.classList.remove('picked');
              span.classList.add('picked');
              openBuilder(id, f);
            });
          }
          pre.append(span);
        }
      } else {
        pre.append(v.body);
      }
      wrap.append(pre);
      if (clickable && (!v.parts || !v.parts.length)) {
        const bodyFields = v.fields ? v.fields.filter((f) => f.kind !== 'header') : [];
        if (bodyFields.length) {
          const ul = el('ul', {class: 'fieldlist'});
          for (const f of bodyFields) {
            const li = el('li', {class: 'field mono', 'data-path': f.path, 'data-kind': f.kind}, f.kind + ' ' + f.path + ' = ' + f.value);
            li.addEventListener('click', () => openBuilder(id, f));
            ul.append(li);
          }
          wrap.append(ul);
        }
      }
    } else if (!v.note) {
      wrap.append(el('p', {class: 'muted'}, 'No body.'));
    }
    return wrap;
  }

  // The route builder.

  const b = {
    pane: document.getElementById('builder'),
    summary: document.getElementById('b-summary'),
    target: document.getElementById('b-target'),
    format: document.getElementById('b-format'),
    storage: document.getElementById('b-storage'),
    upstreamLabel: document.getElementById('b-upstream-label'),
    upstream: document.getElementById('b-upstream'),
    notes: document.getElementById('b-notes'),
    problems: document.getElementById('b-problems'),
    yaml: document.getElementById('b-yaml'),
    source: document.getElementById('b-source'),
    changes: document.getElementById('b-changes'),
    preview: document.getElementById('b-preview'),
    result: document.getElementById('b-result'),
    download: document.getElementById('b-download'),
  };

  function list(ul, items, cls) {
    ul.replaceChildren(...(items || []).map((t) => el('li', {class: cls || ''}, t)));
  }

  async function openBuilder(id, field) {
    building = {capture: id, field};
    b.target.value = '';
    b.upstream.value = '';
    b.result.textContent = '';
    await propose(false);
  }

  async function propose(withOverrides) {
    if (!building) return;
    const req = {capture: building.capture, kind: building.field.kind, path: building.field.path};
    if (withOverrides) {
      req.target = b.target.value;
      req.format = b.format.value;
      req.storage = b.storage.value;
      req.upstream = b.upstream.value;
    }
    const {status, data} = await call('POST', 'propose', req);
    b.pane.hidden = false;
    if (status !== 200) {
      b.summary.textContent = data.error || 'no proposal';
      return;
    }
    const t = data.target;
    b.summary.replaceChildren(
      (data.already ? 'Already targeted: ' : 'Proposed: ') + data.operation + ' ',
      el('code', {}, t.kind + ': ' + t.path),
      ' in ' + (data.new_filter ? 'a new filter ' : 'filter ') , el('code', {}, data.filter),
      ' of ' + (data.new_route ? 'a new route ' : 'route '), el('code', {}, data.route), '.');
    b.target.value = t.path;
    b.format.value = t.format || 'default';
    b.storage.value = t.storage || 'persistent';
    const needsUpstream = data.new_route && current && current.direction === 'inbound';
    b.upstreamLabel.hidden = !needsUpstream;
    list(b.notes, data.notes);
    list(b.problems, data.problems, 'error');
    b.yaml.value = data.yaml;
    const info = await call('GET', 'routes');
    b.source.textContent = info.data.source === 'file' ? '(apply writes ' + info.data.file + ')' : '(inline routes: apply runs them, does not save them)';
    b.pane.scrollIntoView({block: 'nearest'});
    await preview();
  }

  async function preview() {
    b.changes.replaceChildren();
    b.preview.textContent = '';
    const {status, data} = await call('POST', 'preview', {capture: building.capture, yaml: b.yaml.value});
    if (status !== 200) {
      list(b.changes, [data.error].concat(data.problems || [], data.reason ? [data.reason] : []), 'error');
      return;
    }
    const lines = [];
    if (data.status) lines.push('the gateway refuses this request: ' + data.status + ' ' + data.code + ', nothing is forwarded');
    if (data.body_error) lines.push('the gateway does not read this body: ' + data.body_error);
    if (!data.route && !data.status) lines.push('no route matches this request');
    for (const f of data.filters) {
      if (f.error) lines.push('filter ' + f.id + ': ' + f.error + (f.on_error === 'pass' ? ' (passes unchanged)' : ' (refused)'));
      else if (!f.changes.length) lines.push('filter ' + f.id + ' (' + f.operation + '): matched, no target found');
      for (const c of f.changes) lines.push('filter ' + f.id + ' (' + f.operation + '): ' + c.kind + ' ' + c.path + ': ' + c.count + ' value(s)');
    }
    if (data.route && !data.filters.length) lines.push('route ' + data.route + ': no filter matches');
    list(b.changes, lines);
    b.preview.textContent = data.request;
  }

  async function apply() {
    b.result.textContent = 'applying…';
    b.result.className = '';
    const {status, data} = await call('POST', 'apply', {yaml: b.yaml.value});
    if (status !== 200) {
      b.result.textContent = (data.error || 'not applied') + (data.problems ? ': ' + data.problems.join('; ') : '');
      b.result.className = 'error';
      return;
    }
    b.result.className = 'ok';
    b.result.textContent = data.persisted
      ? 'Applied: ' + data.routes + ' routes, ' + data.filters + ' filters; written to ' + data.file + (data.backup ? ' (previous kept in ' + data.backup + ')' : '') + '.'
      : 'Applied: ' + data.routes + ' routes, ' + data.filters + ' filters. ' + (data.note || '');
  }

  b.download.addEventListener('click', () => {
    const blob = new Blob([b.yaml.value], {type: 'application/yaml'});
    const url = URL.createObjectURL(blob);
    b.download.href = url;
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  });
  document.getElementById('b-close').addEventListener('click', () => { b.pane.hidden = true; building = null; });
  document.getElementById('b-update').addEventListener('click', () => propose(true));
  document.getElementById('b-preview-btn').addEventListener('click', () => preview());
  document.getElementById('b-apply').addEventListener('click', () => apply());

  connect();
  loadList(false);
})();
