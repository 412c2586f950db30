// Lockstep's browser console (SPEC A15). It is a client of the API and
// nothing more: every datum and action is an authenticated /api/v1 call,
// so the roles and the audit log apply as they do to the CLI.
//
// Data from the system only ever reaches the page as text (textContent,
// Text nodes, attribute values): a VM, host or alert text that looks like
// markup stays text. The Content-Security-Policy forbids inline script,
// so this file is all the code the page runs.
'use strict';

(() => {
  const SESSION = 'lockstep.session'; // sessionStorage: {token, user, idle}
  const TAB = 'lockstep.tab';
  const REFRESH_MS = 3000;
  const TABS = ['dashboard', 'vms', 'storage', 'alerts'];

  const $ = (id) => document.getElementById(id);

  let session = loadSession();
  let tab = TABS.includes(sessionStorage.getItem(TAB)) ? sessionStorage.getItem(TAB) : 'dashboard';
  let timer = 0;
  let seq = 0; // the latest refresh: an older one's answer is dropped
  let lastActivity = Date.now();
  let consoleVM = ''; // the VM whose console is open
  const pending = new Set(); // actions in flight, by button id
  // Where the message shown came from: a refresh that works clears an
  // error of an earlier refresh, never the answer to an action.
  let messageFrom = '';

  class APIError extends Error {
    constructor(status, code, message, reasons) {
      super(message);
      this.status = status;
      this.code = code;
      this.reasons = reasons || [];
    }
  }

  function loadSession() {
    try {
      const s = JSON.parse(sessionStorage.getItem(SESSION) || 'null');
      return s && typeof s.token === 'string' && s.token ? s : null;
    } catch {
      return null;
    }
  }

  // api calls the API and returns the decoded JSON, the text of a
  // text/plain answer, or null for 204; it throws an APIError carrying
  // the server's message.
  async function api(method, path, body) {
    const headers = { Accept: 'application/json, text/plain' };
    if (session) headers.Authorization = 'Bearer ' + session.token;
    // credentials 'omit': the API's 401 carries a Basic challenge for
    // scripts, and without this the browser would answer it with its own
    // login prompt instead of letting the page show the message.
    const init = { method, headers, cache: 'no-store', credentials: 'omit' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(path, init);
    } catch (e) {
      throw new APIError(0, 'network', 'the system did not answer (' + e.message + ')');
    }
    const type = resp.headers.get('Content-Type') || '';
    if (!resp.ok) {
      let msg = resp.status + ' ' + resp.statusText;
      let code = '';
      let reasons = [];
      try {
        if (type.startsWith('application/json')) {
          const e = await resp.json();
          msg = e.error || msg;
          code = e.code || '';
          reasons = Array.isArray(e.reasons) ? e.reasons : [];
        } else {
          msg = (await resp.text()).trim() || msg;
        }
      } catch {
        // Keep the status line: the body was not what it claimed.
      }
      throw new APIError(resp.status, code, msg, reasons);
    }
    if (resp.status === 204) return null;
    if (type.startsWith('application/json')) return resp.json();
    return resp.text();
  }

  const enc = encodeURIComponent;

  // el builds an element; strings among kids become Text nodes.
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'onclick') e.addEventListener('click', v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const k of kids.flat()) {
      if (k !== undefined && k !== null && k !== false) e.append(k instanceof Node ? k : String(k));
    }
    return e;
  }

  // token makes a value safe as part of a CSS class name.
  const token = (s) => String(s || 'none').toLowerCase().replace(/[^a-z0-9-]+/g, '-');

  // badge is a state as text, with a class for its colour: the colour
  // only repeats what the text says.
  function badge(kind, value, field) {
    return el('span', { class: 'badge ' + kind + '-' + token(value), 'data-field': field }, value || 'unknown');
  }

  function list(items) {
    return items.length ? el('ul', { class: 'plain' }, items.map((i) => el('li', {}, i))) : '—';
  }

  function fmtMiB(m) {
    if (typeof m !== 'number') return '';
    return m >= 1024 ? (m / 1024).toFixed(1) + ' GiB' : m + ' MiB';
  }

  function fmtBytes(b) {
    if (typeof b !== 'number') return '';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    let i = 0;
    while (b >= 1024 && i < units.length - 1) {
      b /= 1024;
      i++;
    }
    return (i ? b.toFixed(1) : String(b)) + ' ' + units[i];
  }

  // fmtTime shows UTC, as the nodes and the CLI do, so that two people
  // in different time zones read the same time.
  function fmtTime(s) {
    if (!s) return '';
    const d = new Date(s);
    return isNaN(d) ? String(s) : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, '');
  }

  // replaceRows swaps a table's rows and gives the focus back to the
  // control that had it, so that a refresh does not pull it away from
  // someone using the keyboard.
  function replaceRows(tbody, rows) {
    const had = tbody.contains(document.activeElement) ? document.activeElement.id : '';
    tbody.replaceChildren(...rows);
    if (had && $(had)) $(had).focus();
  }

  // Messages.

  function showError(text, reasons, from) {
    $('message-text').textContent = text;
    $('message-reasons').replaceChildren(...(reasons || []).map((r) => el('li', {}, r)));
    $('message-reasons').hidden = !(reasons || []).length;
    $('message').hidden = false;
    messageFrom = from || 'action';
  }

  function clearMessage() {
    $('message').hidden = true;
    $('message-text').textContent = '';
    $('message-reasons').replaceChildren();
    $('message-reasons').hidden = true;
    messageFrom = '';
  }

  function notice(text) {
    $('notice').textContent = text;
    $('notice').hidden = !text;
  }

  // fail shows what went wrong; a 401 ends the session, back at the login
  // form with the server's reason.
  function fail(e, what, from) {
    const msg = e instanceof APIError ? e.message : String(e && e.message ? e.message : e);
    if (e instanceof APIError && e.status === 401 && session) {
      endSession();
      showError(msg, [], 'session');
      return;
    }
    showError(what ? what + ': ' + msg : msg, e instanceof APIError ? e.reasons : [], from);
  }

  // Session and views.

  function endSession() {
    session = null;
    sessionStorage.removeItem(SESSION);
    clearTimeout(timer);
    seq++;
    pending.clear();
    clearViews();
    showLogin();
  }

  // clearViews empties every view, so that what one user saw is not in
  // the page for the next one, even hidden, nor shown before their first
  // refresh.
  function clearViews() {
    closeConsole();
    for (const t of document.querySelectorAll('#app-view tbody')) {
      if (t.parentElement.id !== 'system-table') t.replaceChildren();
    }
    for (const td of document.querySelectorAll('#system-table td')) td.replaceChildren();
    $('alert-test-deliveries').replaceChildren();
    $('alert-test-result').hidden = true;
    $('updated').textContent = '';
  }

  function showLogin() {
    $('app-view').hidden = true;
    $('logout').hidden = true;
    $('whoami').hidden = true;
    $('system-title').textContent = '';
    $('login-view').hidden = false;
    $('login-password').value = '';
    ($('login-user').value ? $('login-password') : $('login-user')).focus();
  }

  function showApp() {
    $('login-view').hidden = true;
    $('app-view').hidden = false;
    $('whoami').textContent = 'Logged in as ' + session.user;
    $('whoami').hidden = false;
    $('logout').hidden = false;
    lastActivity = Date.now();
    selectTab(tab);
    // The header names the system whichever view is open; the dashboard
    // keeps it current.
    api('GET', '/api/v1/system').then((sys) => {
      if (session) $('system-title').textContent = sys.name + (sys.ip ? ' (' + sys.ip + ')' : '');
    }, (e) => fail(e, 'Refresh failed', 'refresh'));
  }

  async function login(ev) {
    ev.preventDefault();
    const user = $('login-user').value.trim();
    const password = $('login-password').value;
    clearMessage();
    notice('');
    $('login-submit').disabled = true;
    try {
      const r = await api('POST', '/api/v1/login', { user, password });
      session = { token: r.token, user: r.user, idle: r.idle_seconds };
      sessionStorage.setItem(SESSION, JSON.stringify(session));
      $('login-password').value = '';
      showApp();
    } catch (e) {
      fail(e, 'Log in');
      $('login-password').focus();
    } finally {
      $('login-submit').disabled = false;
    }
  }

  async function logout(why) {
    let err = null;
    try {
      await api('POST', '/api/v1/logout');
    } catch (e) {
      // A 401 means the session had ended already.
      if (!(e instanceof APIError && e.status === 401)) err = e;
    }
    endSession();
    clearMessage();
    notice('');
    if (why) showError(why, [], 'session');
    else notice('Logged out.');
    if (err) showError('Log out: ' + err.message + '; the session ends by itself once unused', [], 'session');
  }

  // The page refreshes itself, which renews the session at the API: the
  // idle limit is therefore kept here, from what the user does.
  function idleOut() {
    return session && session.idle > 0 && Date.now() - lastActivity >= session.idle * 1000;
  }

  function selectTab(name) {
    tab = name;
    sessionStorage.setItem(TAB, name);
    for (const t of TABS) {
      const b = $('tab-btn-' + t);
      b.setAttribute('aria-selected', String(t === name));
      b.classList.toggle('active', t === name);
      $('tab-' + t).hidden = t !== name;
    }
    if (messageFrom === 'refresh') clearMessage();
    refresh();
    schedule();
  }

  function schedule() {
    clearTimeout(timer);
    if (session) timer = setTimeout(tick, REFRESH_MS);
  }

  async function tick() {
    if (!session) return;
    if (idleOut()) {
      const m = Math.round(session.idle / 60);
      await logout('Logged out after ' + (m >= 1 ? m + ' minutes' : session.idle + ' seconds') + ' without activity.');
      return;
    }
    if (!document.hidden) await refresh();
    schedule();
  }

  async function refresh() {
    if (!session) return;
    const my = ++seq;
    try {
      const render = await loaders[tab]();
      if (my !== seq || !session) return;
      if (messageFrom === 'refresh') clearMessage();
      render();
      $('updated').textContent = 'Updated ' + new Date().toLocaleTimeString();
    } catch (e) {
      if (my === seq) fail(e, 'Refresh failed', 'refresh');
    }
  }

  // settle runs the calls of one view together and returns a renderer
  // that draws what came and then throws the first error (a 401 first,
  // which ends the session).
  async function settle(calls, draw) {
    const res = await Promise.allSettled(calls);
    return () => {
      draw(res.map((r) => (r.status === 'fulfilled' ? r.value : undefined)));
      const errs = res.filter((r) => r.status === 'rejected').map((r) => r.reason);
      if (errs.length) throw errs.find((e) => e instanceof APIError && e.status === 401) || errs[0];
    };
  }

  // Actions.

  // act runs one action from a button: it keeps the button disabled
  // while the call runs, says how it went and refreshes.
  async function act(id, label, method, path) {
    if (pending.has(id)) return;
    pending.add(id);
    if ($(id)) $(id).disabled = true;
    clearMessage();
    notice('');
    try {
      const r = await api(method, path);
      notice(label + ': ' + (r && r.status ? r.status : 'done'));
    } catch (e) {
      fail(e, label);
    } finally {
      pending.delete(id);
      if ($(id)) $(id).disabled = false;
    }
    await refresh();
  }

  function button(id, text, attrs, onclick) {
    return el('button', Object.assign({ type: 'button', id, class: 'small', disabled: pending.has(id), onclick }, attrs), text);
  }

  // Dashboard.

  const NODE_ACTIONS = [
    ['workon', 'Maintenance on', (n) => 'Put ' + n + ' into maintenance? Its VMs move to the other node first.'],
    ['workoff', 'Maintenance off', (n) => 'Take ' + n + ' out of maintenance?'],
    ['reboot', 'Reboot', (n) => 'Reboot ' + n + '? Its VMs move to the other node first.'],
    ['shutdown', 'Shut down', (n) => 'Shut down ' + n + '? Its VMs move to the other node first; it stays off until powered on.'],
  ];

  function loadDashboard() {
    return settle([api('GET', '/api/v1/system'), api('GET', '/api/v1/nodes'), api('GET', '/api/v1/capacity')],
      ([sys, nodes, cap]) => {
        if (sys) drawSystem(sys);
        if (nodes) drawNodes(nodes.nodes || []);
        if (cap) drawCapacity(cap);
      });
  }

  function drawSystem(s) {
    $('system-title').textContent = s.name + (s.ip ? ' (' + s.ip + ')' : '');
    $('system-name').textContent = s.name;
    $('system-id').textContent = s.id;
    $('system-ip').textContent = s.ip || '—';
    $('system-version').textContent = s.version;
    $('system-primary').textContent = s.primary || 'none';
    $('system-state').replaceChildren(badge('state', s.state, 'state'));
    const w = s.witnesses || [];
    $('system-witnesses').replaceChildren(w.length
      ? list(w.map((x) => [x.address + ' ', badge('reach', x.reachable ? 'reachable' : 'unreachable')]))
      : 'none');
  }

  function drawNodes(nodes) {
    replaceRows($('nodes-table').tBodies[0], nodes.map((n) => {
      const who = n.id + (n.hostname ? ' (' + n.hostname + ')' : '');
      return el('tr', { 'data-node': n.id },
        el('td', { 'data-field': 'id' }, n.id),
        el('td', { 'data-field': 'hostname' }, n.hostname),
        el('td', { 'data-field': 'role' }, n.role),
        el('td', {}, badge('state', n.state, 'state')),
        el('td', { 'data-field': 'links' }, list((n.links || []).map((l) =>
          el('span', { 'data-link': l.name, title: l.last_seen ? 'last heartbeat ' + fmtTime(l.last_seen) + ' UTC' : 'no heartbeat seen' },
            l.name + ' ', badge('link', l.state), l.flapping ? [' ', badge('link', 'flapping')] : '')))),
        el('td', { class: 'nowrap' }, list((n.addresses || []).map((a) => a.interface + ' ' + a.address))),
        el('td', { 'data-field': 'boot', class: 'nowrap' }, 'slot ' + n.boot.slot + ', ' + n.boot.version),
        el('td', { class: 'actions' }, NODE_ACTIONS.map(([a, text, ask]) => {
          const id = 'node-' + n.id + '-' + a;
          return button(id, text, { 'data-node': n.id, 'data-node-action': a }, () => {
            if (confirm(ask(who))) act(id, text + ' ' + n.id, 'POST', '/api/v1/nodes/' + enc(n.id) + '/' + a);
          });
        })));
    }));
  }

  function drawCapacity(c) {
    const row = (name, field, value) => el('tr', {}, el('th', { scope: 'row' }, name), el('td', { 'data-field': field }, value));
    replaceRows($('capacity-table').tBodies[0], [
      row('Edition', 'edition', c.edition),
      row('vCPUs', 'vcpus', c.vcpus + ' (reserve ' + c.reserve_vcpus + ', used ' + c.used_vcpus + ', free ' + c.free_vcpus + ')'),
      row('Memory', 'memory', fmtMiB(c.memory_mib) + ' (reserve ' + fmtMiB(c.reserve_memory_mib) + ', used ' +
        fmtMiB(c.used_memory_mib) + ', free ' + fmtMiB(c.free_memory_mib) + ')'),
      row('Running VMs', 'running', c.running_vms + ' of at most ' + c.max_running_vms),
    ]);
  }

  // VMs.

  const VM_ACTIONS = [
    ['start', 'Start', null],
    ['shutdown', 'Shut down', null],
    ['poweroff', 'Power off', (n) => 'Power off VM ' + n + '? It stops at once, as if its power were cut: what the guest has not written is lost.'],
    ['migrate', 'Migrate', null],
  ];

  function loadVMs() {
    const calls = [api('GET', '/api/v1/vms')];
    const vm = consoleVM;
    if (vm) calls.push(api('GET', '/api/v1/vms/' + enc(vm) + '/console'));
    return settle(calls, ([l, text]) => {
      if (l) drawVMs(l.vms || []);
      if (vm && vm === consoleVM && typeof text === 'string') drawConsole(text);
    });
  }

  function drawVMs(vms) {
    $('vms-empty').hidden = vms.length > 0;
    replaceRows($('vms-table').tBodies[0], vms.map((v) => {
      const ft = v.ft
        ? [badge('ft', v.ft.state, 'ft'), v.ft.secondary_on ? ' secondary on ' + v.ft.secondary_on : '',
            v.ft.reason ? el('div', { class: 'reason' }, v.ft.reason) : '']
        : (v.mode === 'ft' ? 'not running' : '—');
      const vols = (v.volume_status || []).map((s) =>
        el('span', { 'data-volume': s.name }, s.name + ' ', badge('sync', s.sync),
          s.sync === 'resyncing' && s.resync_percent ? ' ' + s.resync_percent.toFixed(1) + ' %' : ''));
      return el('tr', { 'data-vm': v.name },
        el('td', { 'data-field': 'name' }, v.name),
        el('td', { 'data-field': 'mode' }, String(v.mode || '').toUpperCase()),
        el('td', {}, badge('vm', v.state, 'state'), v.reason ? el('div', { class: 'reason' }, v.reason) : ''),
        el('td', { 'data-field': 'running_on' }, v.running_on || '—'),
        el('td', { 'data-field': 'vcpus' }, v.vcpus),
        el('td', { 'data-field': 'memory' }, fmtMiB(v.memory_mib)),
        el('td', {}, ft),
        el('td', { 'data-field': 'volumes' }, list(vols)),
        el('td', { class: 'actions' },
          VM_ACTIONS.map(([a, text, ask]) => {
            const id = 'vm-' + v.name + '-' + a;
            return button(id, text, { 'data-vm': v.name, 'data-action': a }, () => {
              if (!ask || confirm(ask(v.name))) act(id, text + ' ' + v.name, 'POST', '/api/v1/vms/' + enc(v.name) + '/' + a);
            });
          }),
          button('vm-' + v.name + '-console', 'Console', { 'data-vm': v.name, 'data-action': 'console' }, () => openConsole(v.name))));
    }));
  }

  async function openConsole(name) {
    consoleVM = name;
    $('console-title').textContent = 'Console of ' + name;
    $('console-text').textContent = 'Loading…';
    $('console-panel').hidden = false;
    try {
      const text = await api('GET', '/api/v1/vms/' + enc(name) + '/console');
      if (consoleVM === name) drawConsole(text);
    } catch (e) {
      fail(e, 'Console of ' + name);
    }
  }

  function drawConsole(text) {
    const pre = $('console-text');
    const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.textContent = text === '' ? '(no output yet)' : text;
    if (atEnd) pre.scrollTop = pre.scrollHeight;
  }

  function closeConsole() {
    consoleVM = '';
    $('console-panel').hidden = true;
    $('console-text').textContent = '';
  }

  // Storage and networks.

  function loadStorage() {
    return settle([api('GET', '/api/v1/storage'), api('GET', '/api/v1/networks')], ([st, nets]) => {
      if (st) drawStorage(st.groups || []);
      if (nets) drawNetworks(nets.networks || []);
    });
  }

  const byKey = (o) => Object.keys(o || {}).sort();

  function drawStorage(groups) {
    $('storage-empty').hidden = groups.length > 0;
    replaceRows($('storage-table').tBodies[0], groups.map((g) => el('tr', { 'data-group': g.name },
      el('td', { 'data-field': 'name' }, g.name),
      el('td', { 'data-field': 'size' }, fmtBytes(g.size_bytes)),
      el('td', { 'data-field': 'free' }, fmtBytes(g.free_bytes)),
      el('td', {}, list(byKey(g.nodes).map((n) => {
        const s = g.nodes[n];
        return n + ': ' + (s.devices || []).join(', ') + ' — ' + fmtBytes(s.size_bytes) + ', ' + fmtBytes(s.free_bytes) + ' free';
      }))))));
  }

  function drawNetworks(nets) {
    $('networks-empty').hidden = nets.length > 0;
    replaceRows($('networks-table').tBodies[0], nets.map((n) => el('tr', { 'data-network': n.name },
      el('td', { 'data-field': 'name' }, n.name),
      el('td', { 'data-field': 'bridge' }, n.bridge),
      el('td', {}, list(byKey(n.ports).map((k) => k + ': ' + n.ports[k]))),
      el('td', {}, list(byKey(n.state).map((k) => [k + ': ', badge('net', n.state[k] === 'ok' || n.state[k] === 'unknown' ? n.state[k] : 'problem'),
        n.state[k] === 'ok' || n.state[k] === 'unknown' ? '' : ' ' + n.state[k]]))),
      el('td', { 'data-field': 'vms' }, (n.vms || []).length ? n.vms.join(', ') : '—'))));
  }

  // Alerts.

  function loadAlerts() {
    return settle([api('GET', '/api/v1/alerts')], ([l]) => {
      if (l) drawAlerts(l.alerts || []);
    });
  }

  function delivery(d) {
    return el('span', { 'data-target': d.target }, d.target + ': ', badge('delivery', d.ok ? 'sent' : 'failed'),
      d.ok || !d.error ? '' : ' ' + d.error);
  }

  function drawAlerts(alerts) {
    $('alerts-empty').hidden = alerts.length > 0;
    replaceRows($('alerts-table').tBodies[0], alerts.map((a) => el('tr', { 'data-alert-id': a.id },
      el('td', { 'data-field': 'time' }, fmtTime(a.time)),
      el('td', {}, badge('sev', a.severity, 'severity')),
      el('td', { 'data-field': 'node' }, a.node || 'system'),
      el('td', { 'data-field': 'code' }, a.code),
      el('td', { 'data-field': 'message' }, a.message),
      el('td', { 'data-field': 'cleared' }, a.cleared ? 'yes' : 'no'),
      el('td', { 'data-field': 'sent' }, (a.deliveries || []).length
        ? list(a.deliveries.map(delivery))
        : el('span', { title: 'below the minimum severity, or no target was set' }, 'not sent')))));
  }

  async function testAlert() {
    const id = 'alert-test';
    if (pending.has(id)) return;
    pending.add(id);
    $(id).disabled = true;
    clearMessage();
    notice('');
    $('alert-test-result').hidden = true;
    try {
      const r = await api('POST', '/api/v1/alerts/test');
      const ds = r.deliveries || [];
      $('alert-test-deliveries').replaceChildren(...(ds.length ? ds.map((d) => el('li', {}, delivery(d))) : [el('li', {}, 'no target')]));
      $('alert-test-result').hidden = false;
      const bad = ds.filter((d) => !d.ok).length;
      notice('Test alert ' + plural(ds.length - bad, 'target') + ' reached' + (bad ? ', ' + bad + ' failed' : ''));
    } catch (e) {
      fail(e, 'Test alert');
    } finally {
      pending.delete(id);
      $(id).disabled = false;
    }
    await refresh();
  }

  const plural = (n, what) => n + ' ' + what + (n === 1 ? '' : 's');

  const loaders = { dashboard: loadDashboard, vms: loadVMs, storage: loadStorage, alerts: loadAlerts };

  // Wiring.

  function start() {
    $('login-form').addEventListener('submit', login);
    $('logout').addEventListener('click', () => logout(''));
    $('message-close').addEventListener('click', clearMessage);
    $('console-close').addEventListener('click', closeConsole);
    $('alert-test').addEventListener('click', testAlert);
    for (const t of TABS) $('tab-btn-' + t).addEventListener('click', () => selectTab(t));
    // Arrow keys move between the tabs, as in a desktop tab strip.
    document.querySelector('.tabs').addEventListener('keydown', (ev) => {
      const i = TABS.indexOf(tab);
      const j = ev.key === 'ArrowRight' ? i + 1 : ev.key === 'ArrowLeft' ? i - 1 : -2;
      if (j === -2) return;
      const next = TABS[(j + TABS.length) % TABS.length];
      selectTab(next);
      $('tab-btn-' + next).focus();
      ev.preventDefault();
    });
    for (const ev of ['pointerdown', 'pointermove', 'keydown', 'wheel', 'touchstart']) {
      document.addEventListener(ev, () => { lastActivity = Date.now(); }, { capture: true, passive: true });
    }
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden && session) tick();
    });
    if (session) showApp();
    else showLogin();
  }

  start();
})();
