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
  const TABS = ['dashboard', 'vms', 'storage', 'alerts', 'alert-settings', 'users', 'audit'];
  // The API lets administrators only at users and the audit log: their
  // tabs are shown once GET /api/v1/users has answered, and hidden on 403.
  const ADMIN_TABS = ['users', 'audit'];

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
  let isAdmin = null; // null until the API has said
  let adminProbe = null;
  // The severity select follows the settings until someone touches it:
  // a refresh must not undo a choice not yet saved.
  let severityFilled = false;

  class APIError extends Error {
    constructor(status, code, message, reasons) {
      super(message);
      this.status = status;
      this.code = code;
      this.reasons = reasons || [];
    }
  }

  // Invalid is a form the page refuses to send, with its problems.
  class Invalid extends Error {
    constructor(message, reasons) {
      super(message);
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

  // What a refusal with reasons says before listing them: the API's
  // message is the reasons joined, which the list shows one a line.
  const REFUSED = { no_capacity: 'not enough capacity', bad_parameter: 'refused' };

  // fail shows what went wrong; a 401 ends the session, back at the login
  // form with the server's reason.
  function fail(e, what, from) {
    let msg = e instanceof APIError || e instanceof Invalid ? e.message : String(e && e.message ? e.message : e);
    if (e instanceof APIError && e.status === 401 && session) {
      endSession();
      showError(msg, [], 'session');
      return;
    }
    const reasons = e instanceof APIError || e instanceof Invalid ? e.reasons : [];
    if (e instanceof APIError && reasons.length && REFUSED[e.code]) msg = REFUSED[e.code];
    showError(what ? what + ': ' + msg : msg, reasons, from);
  }

  // Session and views.

  function endSession() {
    session = null;
    sessionStorage.removeItem(SESSION);
    clearTimeout(timer);
    seq++;
    pending.clear();
    if (upload) upload.abort();
    clearViews();
    setAdmin(null);
    showLogin();
  }

  // setAdmin shows or hides the administrators' tabs: null while the
  // API has not said.
  function setAdmin(v) {
    isAdmin = v;
    if (v === null) delete $('app-view').dataset.admin;
    else $('app-view').dataset.admin = v ? 'yes' : 'no';
    for (const t of ADMIN_TABS) $('tab-btn-' + t).hidden = !v;
    if (v === false && ADMIN_TABS.includes(tab)) selectTab('dashboard');
  }

  function probeAdmin() {
    if (isAdmin !== null || adminProbe || !session) return;
    const s = session;
    adminProbe = api('GET', '/api/v1/users').then(() => {
      if (session === s) setAdmin(true);
    }, (e) => {
      // Anything but a 403 says nothing of the role: asked again at the
      // next refresh.
      if (session === s && e instanceof APIError && e.status === 403) setAdmin(false);
    }).finally(() => { adminProbe = null; });
  }

  // clearViews empties every view, so that what one user saw is not in
  // the page for the next one, even hidden, nor shown before their first
  // refresh.
  function clearViews() {
    closeConsole();
    resetForms();
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
    $('password-open').hidden = true;
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
    $('password-open').hidden = false;
    lastActivity = Date.now();
    probeAdmin();
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
    if (name === 'alert-settings') severityFilled = false;
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
    probeAdmin();
    const my = ++seq;
    try {
      const render = await loaders[tab]();
      if (my !== seq || !session) return;
      if (messageFrom === 'refresh') clearMessage();
      render();
      $('updated').textContent = 'Updated ' + new Date().toLocaleTimeString();
    } catch (e) {
      if (my !== seq) return;
      // A role changed under a live session: the administrators' tabs
      // go, rather than an error at every refresh.
      if (e instanceof APIError && e.status === 403 && ADMIN_TABS.includes(tab)) setAdmin(false);
      else fail(e, 'Refresh failed', 'refresh');
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

  // busy runs one action from a button or form: it keeps the button
  // disabled while run goes, shows the notice run returns or its error,
  // calls done once it worked, and refreshes.
  async function busy(id, label, run, done) {
    let ok = false;
    const ran = await locked(id, async () => {
      clearMessage();
      notice('');
      try {
        notice(await run());
        ok = true;
      } catch (e) {
        fail(e, label);
      }
    });
    if (!ran) return;
    if (ok && done && session) done();
    await refresh();
  }

  // locked runs fn with button id disabled, one run at a time (a second
  // click while it goes does nothing); it resolves to whether fn ran.
  async function locked(id, fn) {
    if (pending.has(id)) return false;
    pending.add(id);
    if ($(id)) $(id).disabled = true;
    try {
      await fn();
    } finally {
      pending.delete(id);
      if ($(id)) $(id).disabled = false;
    }
    return true;
  }

  // act runs one API call from a button.
  function act(id, label, method, path) {
    return busy(id, label, async () => {
      const r = await api(method, path);
      return label + ': ' + (r && r.status ? r.status : 'done');
    });
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
          button('vm-' + v.name + '-console', 'Console', { 'data-vm': v.name, 'data-action': 'console' }, () => openConsole(v.name)),
          // The API changes and deletes stopped VMs only: the buttons
          // are offered where they can work.
          v.state === 'stopped' || v.state === 'failed' ? [
            button('vm-' + v.name + '-modify', 'Modify', { 'data-vm': v.name, 'data-action': 'modify' }, () => openModifyVM(v)),
            button('vm-' + v.name + '-delete', 'Delete', { 'data-vm': v.name, 'data-action': 'delete' }, () => {
              if (!confirm('Delete VM ' + v.name + '? Its volumes and everything on them are deleted on both nodes.')) return;
              if ($('vm-modify-form').dataset.vm === v.name) closeForm('vm-modify-form');
              act('vm-' + v.name + '-delete', 'Delete VM ' + v.name, 'DELETE', '/api/v1/vms/' + enc(v.name));
            }),
          ] : ''));
    }));
  }

  // Forms.

  // closeForm hides a form and forgets what was typed into it, passwords
  // included.
  function closeForm(id) {
    const f = $(id);
    f.reset();
    f.hidden = true;
    for (const k of Object.keys(f.dataset)) if (k !== 'open') delete f.dataset[k];
  }

  // resetForms empties every form, for the next user of the page.
  function resetForms() {
    for (const f of document.querySelectorAll('#app-view form')) {
      f.reset();
      if (f.classList.contains('panel') && f.dataset.open !== 'always') closeForm(f.id);
    }
    $('vm-create-volumes').replaceChildren();
    $('vm-create-nics').replaceChildren();
    for (const r of document.querySelectorAll('#net-create-grid [data-port-node]')) r.remove();
    for (const r of document.querySelectorAll('#storage-grid [data-disk-node]')) r.remove();
    severityFilled = false;
  }

  // int is a form field's whole number, or NaN.
  function int(id) {
    const v = $(id).value.trim();
    return /^[0-9]+$/.test(v) ? Number(v) : NaN;
  }

  // mib is a size field with its unit select in whole MiB, or NaN.
  function mib(id, unitID) {
    const v = $(id).value.trim();
    const n = v === '' ? NaN : Number(v) * ($(unitID).value === 'GiB' ? 1024 : 1);
    const r = Math.round(n);
    // 1.1 GiB is not whole MiB; the tolerance is for binary fractions.
    return Number.isFinite(n) && r > 0 && Math.abs(n - r) < 1e-6 ? r : NaN;
  }

  // setMiB shows a size in GiB when it is whole GiB.
  function setMiB(id, unitID, m) {
    const gib = m % 1024 === 0;
    $(id).value = String(gib ? m / 1024 : m);
    $(unitID).value = gib ? 'GiB' : 'MiB';
  }

  function options(select, items, chosen) {
    select.replaceChildren(...items.map(([value, text]) => el('option', { value, selected: value === chosen }, text)));
  }

  // What the VM form offers, as the API gave it when the form was opened.
  let choices = { groups: [], networks: [], vcds: [], nodes: [] };
  // Row numbers, for ids: a removed row's number is not used again.
  let volSeq = 0;
  let nicSeq = 0;

  async function openCreateVM() {
    const f = $('vm-create-form');
    if (!f.hidden) {
      $('vm-create-name').focus();
      return;
    }
    let res;
    const ran = await locked('vm-create-open', async () => {
      res = await Promise.allSettled([api('GET', '/api/v1/storage'), api('GET', '/api/v1/networks'),
        api('GET', '/api/v1/vcds'), api('GET', '/api/v1/nodes')]);
    });
    if (!ran || !session) return;
    const [st, nets, cds, nodes] = res.map((r) => (r.status === 'fulfilled' ? r.value : null));
    choices = {
      groups: st ? st.groups || [] : [],
      networks: nets ? nets.networks || [] : [],
      vcds: cds ? cds.vcds || [] : [],
      nodes: nodes ? nodes.nodes || [] : [],
    };
    closeForm('vm-create-form');
    $('vm-create-volumes').replaceChildren();
    $('vm-create-nics').replaceChildren();
    volSeq = 0;
    nicSeq = 0;
    options($('vm-create-cd'), [['', 'none'], ...choices.vcds.map((v) => [v.name, v.name + ' (' + fmtBytes(v.size_bytes) + ')'])], '');
    options($('vm-create-node'), [['', 'the system chooses'],
      ...choices.nodes.map((n) => [n.id, n.id + (n.hostname ? ' (' + n.hostname + ')' : '')])], '');
    addVolumeRow();
    if (choices.networks.length) addNICRow();
    f.hidden = false;
    const err = res.find((r) => r.status === 'rejected');
    if (err) fail(err.reason, 'Create VM: the form may miss choices');
    $('vm-create-name').focus();
  }

  function removeButton(row, what) {
    return el('button', { type: 'button', class: 'small', id: row.id + '-remove', 'aria-label': 'Remove ' + what,
      onclick: () => row.remove() }, 'Remove');
  }

  function addVolumeRow() {
    const n = volSeq++;
    const p = 'vm-vol-' + n;
    const groups = choices.groups.length
      ? choices.groups.map((g) => [g.name, g.name + ' (' + fmtBytes(g.free_bytes) + ' free)'])
      : [['', 'the system chooses']];
    const group = el('select', { id: p + '-group', 'aria-label': 'Storage group' });
    options(group, groups, groups[0][0]);
    const unit = el('select', { id: p + '-unit', 'aria-label': 'Size unit' });
    options(unit, [['GiB', 'GiB'], ['MiB', 'MiB']], 'GiB');
    const row = el('div', { class: 'row', id: p, 'data-volume-row': n },
      el('label', { for: p + '-name' }, 'Name'), el('input', { id: p + '-name', required: true }),
      el('label', { for: p + '-size' }, 'Size'), el('input', { id: p + '-size', type: 'number', min: '0', step: 'any', required: true }),
      unit, el('label', { for: p + '-group' }, 'in'), group);
    row.append(removeButton(row, 'volume'));
    $('vm-create-volumes').append(row);
    return row;
  }

  function addNICRow() {
    const n = nicSeq++;
    const p = 'vm-nic-' + n;
    const net = el('select', { id: p + '-network' });
    const nets = choices.networks.map((x) => [x.name, x.name]);
    options(net, nets.length ? nets : [['', 'no business network']], nets.length ? nets[0][0] : '');
    const row = el('div', { class: 'row', id: p, 'data-nic-row': n },
      el('label', { for: p + '-network' }, 'NIC on network'), net);
    row.append(removeButton(row, 'NIC'));
    $('vm-create-nics').append(row);
    return row;
  }

  // readCreateVM is the form as a VMSpec, or throws what is wrong with it
  // before the API would have a say.
  function readCreateVM() {
    const problems = [];
    const spec = {
      name: $('vm-create-name').value.trim(),
      mode: $('vm-create-mode').value,
      vcpus: int('vm-create-vcpus'),
      memory_mib: mib('vm-create-memory', 'vm-create-memory-unit'),
    };
    if (isNaN(spec.vcpus)) problems.push('vCPUs: give a whole number');
    if (isNaN(spec.memory_mib)) problems.push('memory: give a size of whole MiB');
    if ($('vm-create-cd').value) spec.cd = $('vm-create-cd').value;
    if ($('vm-create-node').value) spec.node = $('vm-create-node').value;
    if ($('vm-create-autostart').checked) spec.autostart = true;
    const vols = [...$('vm-create-volumes').children].map((row, i) => {
      const p = row.id;
      const v = { name: $(p + '-name').value.trim(), size_mib: mib(p + '-size', p + '-unit') };
      if ($(p + '-group').value) v.group = $(p + '-group').value;
      if (isNaN(v.size_mib)) problems.push('volume ' + (v.name || i + 1) + ': give a size of whole MiB');
      return v;
    });
    if (vols.length) spec.volumes = vols;
    const nics = [...$('vm-create-nics').children].map((row) => ({ network: $(row.id + '-network').value }));
    if (nics.length) spec.nics = nics;
    if (problems.length) throw new Invalid('the form is not complete', problems);
    return spec;
  }

  function createVM(ev) {
    ev.preventDefault();
    const name = $('vm-create-name').value.trim();
    busy('vm-create-submit', 'Create VM ' + name, async () => {
      const vm = await api('POST', '/api/v1/vms', readCreateVM());
      return 'VM ' + vm.name + ' created; it is stopped until started';
    }, () => closeForm('vm-create-form'));
  }

  function openModifyVM(v) {
    closeForm('vm-modify-form');
    const f = $('vm-modify-form');
    f.dataset.vm = v.name;
    // What the VM was, to send only what changes.
    f.dataset.was = JSON.stringify({ vcpus: v.vcpus, memory_mib: v.memory_mib, mode: v.mode });
    $('vm-modify-title').textContent = 'Modify VM ' + v.name;
    $('vm-modify-vcpus').value = String(v.vcpus);
    setMiB('vm-modify-memory', 'vm-modify-memory-unit', v.memory_mib);
    $('vm-modify-mode').value = v.mode;
    f.hidden = false;
    $('vm-modify-vcpus').focus();
  }

  function modifyVM(ev) {
    ev.preventDefault();
    const f = $('vm-modify-form');
    const name = f.dataset.vm;
    if (!name) return;
    busy('vm-modify-submit', 'Modify VM ' + name, async () => {
      const was = JSON.parse(f.dataset.was);
      const now = { vcpus: int('vm-modify-vcpus'), memory_mib: mib('vm-modify-memory', 'vm-modify-memory-unit'), mode: $('vm-modify-mode').value };
      const problems = [];
      if (isNaN(now.vcpus)) problems.push('vCPUs: give a whole number');
      if (isNaN(now.memory_mib)) problems.push('memory: give a size of whole MiB');
      if (problems.length) throw new Invalid('the form is not complete', problems);
      // A field left out of a PATCH keeps its value (see VMSpec).
      const change = {};
      for (const k of Object.keys(now)) if (now[k] !== was[k]) change[k] = now[k];
      if (!Object.keys(change).length) return 'VM ' + name + ': nothing to change';
      await api('PATCH', '/api/v1/vms/' + enc(name), change);
      return 'VM ' + name + ' changed';
    }, () => closeForm('vm-modify-form'));
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
    return settle([api('GET', '/api/v1/storage'), api('GET', '/api/v1/networks'), api('GET', '/api/v1/vcds')], ([st, nets, cds]) => {
      if (st) drawStorage(st.groups || []);
      if (nets) drawNetworks(nets.networks || []);
      if (cds) drawVCDs(cds.vcds || []);
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
      }))),
      el('td', { class: 'actions' },
        button('storage-' + g.name + '-extend', 'Add disks', { 'data-group': g.name, 'data-action': 'extend' }, () => openStorage(g.name))))));
  }

  // openStorage opens the storage group form: to create a group, or with
  // group to add disks to that one. The API lists no disks outside the
  // groups, so each node's disk ids are typed, one a line.
  async function openStorage(group) {
    const f = $('storage-form');
    let nodes = [];
    let err = null;
    const ran = await locked(group ? 'storage-' + group + '-extend' : 'storage-create-open', async () => {
      try {
        nodes = (await api('GET', '/api/v1/nodes')).nodes || [];
      } catch (e) {
        err = e;
      }
    });
    if (!ran || !session) return;
    closeForm('storage-form');
    for (const r of document.querySelectorAll('#storage-grid [data-disk-node]')) r.remove();
    if (group) f.dataset.group = group;
    $('storage-title').textContent = group ? 'Add disks to storage group ' + group : 'Create storage group';
    $('storage-submit').textContent = group ? 'Add disks' : 'Create storage group';
    $('storage-name').hidden = !!group;
    $('storage-name').required = !group;
    $('storage-name-label').hidden = !!group;
    for (const n of nodes) {
      const did = 'storage-disks-' + n.id;
      $('storage-grid').append(
        el('label', { for: did, 'data-disk-node': n.id }, 'Disks of ' + n.id + (n.hostname ? ' (' + n.hostname + ')' : '')),
        el('textarea', { id: did, 'data-disk-node': n.id, rows: 2, required: true, placeholder: 'serial:S5GXNF0R100001, one a line' }));
    }
    f.hidden = false;
    if (err) fail(err, (group ? 'Add disks to ' + group : 'Create storage group') + ': the nodes are not known');
    (group ? f.querySelector('textarea') || $('storage-submit') : $('storage-name')).focus();
  }

  function saveStorage(ev) {
    ev.preventDefault();
    const group = $('storage-form').dataset.group || '';
    const disks = {};
    for (const t of document.querySelectorAll('#storage-grid textarea[data-disk-node]')) {
      disks[t.dataset.diskNode] = t.value.split(/[\s,]+/).filter((d) => d !== '');
    }
    const erase = $('storage-erase').checked;
    const spec = { disks };
    if (erase) spec.erase = true;
    if (group) {
      busy('storage-submit', 'Add disks to storage group ' + group, async () => {
        if (erase && !confirm('Erase what is on the disks given, on both nodes? Their data is lost.')) throw new Invalid('not sent: the erase was not confirmed');
        const g = await api('POST', '/api/v1/storage/' + enc(group) + '/disks', spec);
        return 'Storage group ' + g.name + ' now ' + fmtBytes(g.size_bytes);
      }, () => closeForm('storage-form'));
      return;
    }
    spec.name = $('storage-name').value.trim();
    busy('storage-submit', 'Create storage group ' + spec.name, async () => {
      if (erase && !confirm('Erase what is on the disks given, on both nodes? Their data is lost.')) throw new Invalid('not sent: the erase was not confirmed');
      const g = await api('POST', '/api/v1/storage', spec);
      return 'Storage group ' + g.name + ' created (' + fmtBytes(g.size_bytes) + ')';
    }, () => closeForm('storage-form'));
  }

  // Virtual CDs.

  function drawVCDs(cds) {
    $('vcds-empty').hidden = cds.length > 0;
    replaceRows($('vcds-table').tBodies[0], cds.map((v) => el('tr', { 'data-vcd': v.name },
      el('td', { 'data-field': 'name' }, v.name),
      el('td', { 'data-field': 'size', 'data-bytes': v.size_bytes, title: v.size_bytes + ' bytes' }, fmtBytes(v.size_bytes)),
      el('td', { 'data-field': 'sha256', class: 'mono' }, v.sha256 || ''),
      el('td', { 'data-field': 'nodes' }, (v.nodes || []).length ? v.nodes.join(', ') : '—'),
      el('td', { class: 'actions' },
        button('vcd-' + v.name + '-delete', 'Delete', { 'data-vcd': v.name, 'data-action': 'delete' }, () => {
          if (!confirm('Delete virtual CD ' + v.name + ' from both nodes?')) return;
          act('vcd-' + v.name + '-delete', 'Delete virtual CD ' + v.name, 'DELETE', '/api/v1/vcds/' + enc(v.name));
        })))));
  }

  let upload = null; // the XMLHttpRequest of the upload going on

  // putFile sends file as the raw body of PUT path, reporting progress;
  // it resolves to the decoded answer or rejects with an APIError, like
  // api. fetch cannot report upload progress, so this is XMLHttpRequest.
  function putFile(path, file, progress) {
    return new Promise((resolve, reject) => {
      const x = new XMLHttpRequest();
      upload = x;
      x.open('PUT', path);
      x.setRequestHeader('Accept', 'application/json, text/plain');
      if (session) x.setRequestHeader('Authorization', 'Bearer ' + session.token);
      x.setRequestHeader('Content-Type', 'application/octet-stream');
      x.withCredentials = false;
      x.upload.addEventListener('progress', (e) => progress(e.loaded, e.lengthComputable ? e.total : file.size));
      x.addEventListener('load', () => {
        const type = x.getResponseHeader('Content-Type') || '';
        let body = null;
        try {
          body = type.startsWith('application/json') ? JSON.parse(x.responseText) : x.responseText;
        } catch {
          body = null;
        }
        if (x.status >= 200 && x.status < 300) {
          resolve(body);
          return;
        }
        let msg = x.status + ' ' + x.statusText;
        if (body && typeof body === 'object') {
          reject(new APIError(x.status, body.code || '', body.error || msg, Array.isArray(body.reasons) ? body.reasons : []));
        } else {
          reject(new APIError(x.status, '', (typeof body === 'string' && body.trim()) || msg));
        }
      });
      x.addEventListener('error', () => reject(new APIError(0, 'network', 'the system did not answer')));
      x.addEventListener('abort', () => reject(new APIError(0, 'aborted', 'the upload was stopped')));
      x.send(file);
    });
  }

  function showProgress(text, done, total) {
    $('vcd-progress').hidden = !text;
    $('vcd-progress').value = total > 0 ? Math.floor((done / total) * 100) : 0;
    $('vcd-progress-text').textContent = text;
  }

  function uploadVCD(ev) {
    ev.preventDefault();
    const file = $('vcd-file').files[0];
    const name = $('vcd-name').value.trim() || (file ? file.name : '');
    busy('vcd-submit', 'Upload virtual CD ' + name, async () => {
      if (!file) throw new Invalid('the form is not complete', ['choose an ISO file']);
      if (file.size === 0) throw new Invalid('the file is empty', ['choose an ISO image']);
      $('vcd-abort').hidden = false;
      showProgress('Uploading… 0%', 0, file.size);
      try {
        const v = await putFile('/api/v1/vcds/' + enc(name), file, (done, total) => {
          lastActivity = Date.now(); // an upload is activity: no idle logout under it
          const pct = total > 0 ? Math.floor((done / total) * 100) : 0;
          showProgress(done >= total ? 'Uploaded; the system is copying it to both nodes…' : 'Uploading… ' + pct + '% (' + fmtBytes(done) + ' of ' + fmtBytes(total) + ')', done, total);
        });
        return 'Virtual CD ' + v.name + ' uploaded (' + fmtBytes(v.size_bytes) + ')';
      } finally {
        upload = null;
        $('vcd-abort').hidden = true;
        showProgress('', 0, 0);
      }
    }, () => $('vcd-form').reset());
  }

  function drawNetworks(nets) {
    $('networks-empty').hidden = nets.length > 0;
    replaceRows($('networks-table').tBodies[0], nets.map((n) => el('tr', { 'data-network': n.name },
      el('td', { 'data-field': 'name' }, n.name),
      el('td', { 'data-field': 'bridge' }, n.bridge),
      el('td', { 'data-field': 'ports' }, list(byKey(n.ports).map((k) => k + ': ' + n.ports[k]))),
      el('td', {}, list(byKey(n.state).map((k) => [k + ': ', badge('net', n.state[k] === 'ok' || n.state[k] === 'unknown' ? n.state[k] : 'problem'),
        n.state[k] === 'ok' || n.state[k] === 'unknown' ? '' : ' ' + n.state[k]]))),
      el('td', { 'data-field': 'vms' }, (n.vms || []).length ? n.vms.join(', ') : '—'),
      el('td', { class: 'actions' },
        button('net-' + n.name + '-port', 'Change port', { 'data-network': n.name, 'data-action': 'port' }, () => openNetPort(n)),
        button('net-' + n.name + '-delete', 'Delete', { 'data-network': n.name, 'data-action': 'delete' }, () => {
          const vms = (n.vms || []).length ? ' VMs ' + n.vms.join(', ') + ' have NICs on it.' : '';
          if (!confirm('Delete network ' + n.name + '? Its bridge goes on both nodes.' + vms)) return;
          if ($('net-port-form').dataset.network === n.name) closeForm('net-port-form');
          act('net-' + n.name + '-delete', 'Delete network ' + n.name, 'DELETE', '/api/v1/networks/' + enc(n.name));
        })))));
  }

  async function openNetCreate() {
    const f = $('net-create-form');
    if (!f.hidden) {
      $('net-create-name').focus();
      return;
    }
    let nodes = [];
    let err = null;
    const ran = await locked('net-create-open', async () => {
      try {
        nodes = (await api('GET', '/api/v1/nodes')).nodes || [];
      } catch (e) {
        err = e;
      }
    });
    if (!ran || !session) return;
    closeForm('net-create-form');
    for (const r of document.querySelectorAll('#net-create-grid [data-port-node]')) r.remove();
    for (const n of nodes) {
      const pid = 'net-create-port-' + n.id;
      $('net-create-grid').append(
        el('label', { for: pid, 'data-port-node': n.id }, 'Port on ' + n.id + (n.hostname ? ' (' + n.hostname + ')' : '')),
        el('input', { id: pid, 'data-port-node': n.id, placeholder: 'enp9s0 or 52:54:00:12:34:56', required: true }));
    }
    f.hidden = false;
    if (err) fail(err, 'Create network: the nodes are not known');
    $('net-create-name').focus();
  }

  function createNetwork(ev) {
    ev.preventDefault();
    const name = $('net-create-name').value.trim();
    const ports = {};
    for (const i of document.querySelectorAll('#net-create-grid input[data-port-node]')) ports[i.dataset.portNode] = i.value.trim();
    busy('net-create-submit', 'Create network ' + name, async () => {
      const n = await api('POST', '/api/v1/networks', { name, ports });
      return 'Network ' + n.name + ' created (bridge ' + n.bridge + ')';
    }, () => closeForm('net-create-form'));
  }

  function openNetPort(n) {
    closeForm('net-port-form');
    const f = $('net-port-form');
    const ports = Object.assign({}, n.ports);
    f.dataset.network = n.name;
    f.dataset.ports = JSON.stringify(ports);
    $('net-port-title').textContent = 'Change a port of network ' + n.name;
    const nodes = [...new Set([...byKey(n.ports), ...byKey(n.state)])].sort();
    options($('net-port-node'), nodes.map((k) => [k, k]), nodes[0]);
    $('net-port-port').value = ports[nodes[0]] || '';
    f.hidden = false;
    $('net-port-port').focus();
  }

  function changeNetPort(ev) {
    ev.preventDefault();
    const name = $('net-port-form').dataset.network;
    if (!name) return;
    const node = $('net-port-node').value;
    const port = $('net-port-port').value.trim();
    busy('net-port-submit', 'Network ' + name + ', port on ' + node, async () => {
      await api('PUT', '/api/v1/networks/' + enc(name), { ports: { [node]: port } });
      return 'Network ' + name + ': ' + node + ' uses port ' + port;
    }, () => closeForm('net-port-form'));
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
    const ran = await locked('alert-test', async () => {
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
      }
    });
    if (ran) await refresh();
  }

  const plural = (n, what) => n + ' ' + what + (n === 1 ? '' : 's');

  // Alert settings. A change reads the settings afresh and PUTs them
  // whole with the one change made: the API replaces them, and someone
  // may have changed another part since the page last drew them. The SMTP
  // password never comes back from the API; left out of a PUT, the
  // stored one stays.

  function loadAlertSettings() {
    return settle([api('GET', '/api/v1/alerts/settings')], ([s]) => {
      if (s) drawAlertSettings(s);
    });
  }

  function drawAlertSettings(s) {
    const e = s.email;
    const row = (name, field, value) => el('tr', {}, el('th', { scope: 'row' }, name), el('td', { 'data-field': field }, value));
    const rows = [row('Minimum severity', 'min_severity', badge('sev', s.min_severity))];
    if (e) {
      rows.push(
        row('SMTP server', 'email-server', e.server + (e.port ? ':' + e.port : ' (usual port)')),
        row('Security', 'email-security', e.security),
        row('User', 'email-username', e.username || 'none'),
        row('Password', 'email-password', e.password_set ? 'stored' : 'none'),
        row('From', 'email-from', e.from),
        row('Recipients', 'email-to', list(e.to || [])),
        row('CA', 'email-ca', e.ca ? 'own CA certificates' : "the system's roots"));
    } else {
      rows.push(row('Email', 'email', 'not sent'));
    }
    replaceRows($('alert-settings-table').tBodies[0], rows);
    $('email-edit').textContent = e ? 'Change email' : 'Set up email';
    $('email-remove').hidden = !e;
    const snmp = s.snmp || [];
    $('snmp-empty').hidden = snmp.length > 0;
    replaceRows($('snmp-table').tBodies[0], snmp.map((t, i) => {
      const key = t.host + ':' + (t.port || 162) + ' ' + t.version;
      const id = 'snmp-' + i + '-remove';
      return el('tr', { 'data-snmp': key },
        el('td', { 'data-field': 'host' }, t.host),
        el('td', { 'data-field': 'port' }, t.port || '162'),
        el('td', { 'data-field': 'version' }, t.version),
        el('td', { 'data-field': 'community' }, t.community),
        el('td', { class: 'actions' }, button(id, 'Remove', { 'data-snmp': key, 'data-action': 'remove' }, () => {
          if (confirm('Stop sending traps to ' + key + '?')) removeSNMP(id, t, key);
        })));
    }));
    if (!severityFilled) {
      $('severity-select').value = s.min_severity;
      severityFilled = true;
    }
  }

  // settingsBody is the settings as GET gave them, ready to PUT.
  function settingsBody(s) {
    const out = JSON.parse(JSON.stringify(s));
    if (out.email) {
      delete out.email.password_set; // the API's to say, not to be told
      delete out.email.password;
    }
    return out;
  }

  function changeSettings(id, label, change, done) {
    return busy(id, label, async () => {
      const next = settingsBody(await api('GET', '/api/v1/alerts/settings'));
      change(next);
      await api('PUT', '/api/v1/alerts/settings', next);
      return label + ': saved';
    }, done);
  }

  function saveSeverity(ev) {
    ev.preventDefault();
    const sev = $('severity-select').value;
    changeSettings('severity-submit', 'Minimum severity', (s) => { s.min_severity = sev; }, () => { severityFilled = false; });
  }

  async function openEmail() {
    let s = null;
    await locked('email-edit', async () => {
      try {
        s = await api('GET', '/api/v1/alerts/settings');
      } catch (e) {
        fail(e, 'Email settings');
      }
    });
    if (!s || !session) return;
    closeForm('email-form');
    const e = s.email || { security: 'starttls', to: [] };
    $('email-server').value = e.server || '';
    $('email-port').value = e.port ? String(e.port) : '';
    $('email-security').value = e.security || 'starttls';
    $('email-username').value = e.username || '';
    $('email-from').value = e.from || '';
    $('email-to').value = (e.to || []).join('\n');
    $('email-ca').value = e.ca || '';
    $('email-password-state').textContent = e.password_set
      ? 'A password is stored: leave this empty to keep it.'
      : 'No password is stored.';
    $('email-password-clear').disabled = !e.password_set;
    $('email-form').hidden = false;
    $('email-server').focus();
  }

  function saveEmail(ev) {
    ev.preventDefault();
    const portText = $('email-port').value.trim();
    const email = {
      server: $('email-server').value.trim(),
      port: portText === '' ? 0 : Number(portText),
      security: $('email-security').value,
      from: $('email-from').value.trim(),
      to: $('email-to').value.split(/[\s,;]+/).filter((a) => a !== ''),
    };
    const user = $('email-username').value.trim();
    if (user) email.username = user;
    const ca = $('email-ca').value.trim();
    if (ca) email.ca = ca + '\n';
    const pw = $('email-password').value;
    if (pw !== '') email.password = pw;
    else if ($('email-password-clear').checked) email.password = '';
    changeSettings('email-submit', 'Email settings', (s) => {
      if (!Number.isInteger(email.port)) throw new Invalid('the form is not complete', ['port: give a number, or nothing for the usual one']);
      s.email = email;
    }, () => closeForm('email-form'));
  }

  function removeEmail() {
    if (!confirm('Stop sending alerts by email? The email settings and the stored password are removed.')) return;
    closeForm('email-form');
    changeSettings('email-remove', 'Email settings', (s) => { delete s.email; });
  }

  function addSNMP(ev) {
    ev.preventDefault();
    const portText = $('snmp-port').value.trim();
    const t = {
      host: $('snmp-host').value.trim(),
      port: portText === '' ? 0 : Number(portText),
      version: $('snmp-version').value,
      community: $('snmp-community').value,
    };
    changeSettings('snmp-submit', 'SNMP receiver ' + t.host, (s) => {
      if (!Number.isInteger(t.port)) throw new Invalid('the form is not complete', ['port: give a number, or nothing for 162']);
      s.snmp = (s.snmp || []).concat([t]);
    }, () => $('snmp-form').reset());
  }

  function removeSNMP(id, t, key) {
    changeSettings(id, 'SNMP receiver ' + key, (s) => {
      const i = (s.snmp || []).findIndex((x) => x.host === t.host && x.port === t.port && x.version === t.version && x.community === t.community);
      if (i < 0) throw new Invalid('it is no longer set');
      s.snmp.splice(i, 1);
    });
  }

  // Users: administrators only, like the API's routes.

  function loadUsers() {
    return settle([api('GET', '/api/v1/users')], ([l]) => {
      if (l) drawUsers(l.users || []);
    });
  }

  function drawUsers(users) {
    replaceRows($('users-table').tBodies[0], users.map((u) => {
      const me = session && u.name === session.user;
      return el('tr', { 'data-user': u.name },
        el('td', { 'data-field': 'name' }, u.name, u.built_in ? el('span', { class: 'muted' }, ' (built in)') : '',
          me ? el('span', { class: 'muted' }, ' (you)') : ''),
        el('td', { 'data-field': 'role' }, u.role),
        el('td', { class: 'actions' },
          u.built_in ? '' : button('user-' + u.name + '-role', 'Change role', { 'data-user': u.name, 'data-action': 'role' }, () => openUserRole(u)),
          button('user-' + u.name + '-password', 'Set password', { 'data-user': u.name, 'data-action': 'password' }, () => openPassword(u.name)),
          u.built_in || me ? '' : button('user-' + u.name + '-delete', 'Delete', { 'data-user': u.name, 'data-action': 'delete' }, () => {
            if (!confirm('Delete user ' + u.name + '? Their sessions end and they can no longer log in.')) return;
            if ($('user-role-form').dataset.user === u.name) closeForm('user-role-form');
            act('user-' + u.name + '-delete', 'Delete user ' + u.name, 'DELETE', '/api/v1/users/' + enc(u.name));
          })));
    }));
  }

  function createUser(ev) {
    ev.preventDefault();
    const name = $('user-create-name').value.trim();
    const spec = { name, role: $('user-create-role').value, password: $('user-create-password').value };
    const again = $('user-create-repeat').value;
    busy('user-create-submit', 'Create user ' + name, async () => {
      if (spec.password !== again) throw new Invalid('the two passwords differ; type the same one twice');
      const u = await api('POST', '/api/v1/users', spec);
      return 'User ' + u.name + ' (' + u.role + ') created';
    }, () => $('user-create-form').reset());
  }

  function openUserRole(u) {
    closeForm('user-role-form');
    $('user-role-form').dataset.user = u.name;
    $('user-role-title').textContent = 'Change the role of ' + u.name;
    $('user-role-select').value = u.role;
    $('user-role-form').hidden = false;
    $('user-role-select').focus();
  }

  function changeUserRole(ev) {
    ev.preventDefault();
    const name = $('user-role-form').dataset.user;
    if (!name) return;
    const role = $('user-role-select').value;
    busy('user-role-submit', 'Role of ' + name, async () => {
      const u = await api('PUT', '/api/v1/users/' + enc(name), { role });
      return 'User ' + u.name + ' is now ' + u.role;
    }, () => closeForm('user-role-form'));
  }

  // The password form serves the user logged in (any role may change
  // their own) and, from the users table, an administrator setting
  // another's.
  function openPassword(name) {
    closeForm('password-form');
    $('password-form').dataset.user = name;
    $('password-user').value = name; // for the browser's password manager
    $('password-title').textContent = name === session.user ? 'Change my password (' + name + ')' : 'Set the password of ' + name;
    $('password-form').hidden = false;
    $('password-new').focus();
  }

  function changePassword(ev) {
    ev.preventDefault();
    const name = $('password-form').dataset.user;
    if (!name) return;
    const pw = $('password-new').value;
    const again = $('password-repeat').value;
    busy('password-submit', 'Password of ' + name, async () => {
      if (pw !== again) throw new Invalid('the two passwords differ; type the same one twice');
      await api('PUT', '/api/v1/users/' + enc(name), { password: pw });
      return 'Password of ' + name + ' changed';
    }, () => closeForm('password-form'));
  }

  // Audit log.

  function loadAudit() {
    return settle([api('GET', '/api/v1/audit')], ([l]) => {
      if (l) drawAudit(l.records || []);
    });
  }

  function drawAudit(recs) {
    $('audit-empty').hidden = recs.length > 0;
    replaceRows($('audit-table').tBodies[0], recs.map((r) => el('tr', { 'data-status': r.status },
      el('td', { 'data-field': 'time', class: 'nowrap' }, fmtTime(r.time)),
      el('td', { 'data-field': 'node' }, r.node || '—'),
      el('td', { 'data-field': 'user' }, r.user || '—'),
      el('td', { 'data-field': 'client' }, r.client),
      el('td', { 'data-field': 'request' }, r.method + ' ' + r.path),
      el('td', { 'data-field': 'status' }, r.status))));
  }

  const loaders = {
    dashboard: loadDashboard, vms: loadVMs, storage: loadStorage, alerts: loadAlerts,
    'alert-settings': loadAlertSettings, users: loadUsers, audit: loadAudit,
  };

  // Wiring.

  function start() {
    $('login-form').addEventListener('submit', login);
    $('logout').addEventListener('click', () => logout(''));
    $('message-close').addEventListener('click', clearMessage);
    $('console-close').addEventListener('click', closeConsole);
    $('alert-test').addEventListener('click', testAlert);
    const forms = {
      'vm-create-form': createVM, 'vm-modify-form': modifyVM, 'net-create-form': createNetwork, 'net-port-form': changeNetPort,
      'severity-form': saveSeverity, 'email-form': saveEmail, 'snmp-form': addSNMP, 'user-create-form': createUser,
      'user-role-form': changeUserRole, 'password-form': changePassword, 'storage-form': saveStorage, 'vcd-form': uploadVCD,
    };
    for (const [id, f] of Object.entries(forms)) $(id).addEventListener('submit', f);
    for (const id of ['vm-create-form', 'vm-modify-form', 'net-create-form', 'net-port-form', 'email-form', 'user-role-form', 'password-form', 'storage-form']) {
      $(id.replace(/-form$/, '-cancel')).addEventListener('click', () => closeForm(id));
    }
    $('vm-create-open').addEventListener('click', openCreateVM);
    $('vm-create-add-volume').addEventListener('click', () => $(addVolumeRow().id + '-name').focus());
    $('vm-create-add-nic').addEventListener('click', () => $(addNICRow().id + '-network').focus());
    $('net-create-open').addEventListener('click', openNetCreate);
    $('storage-create-open').addEventListener('click', () => openStorage(''));
    $('vcd-abort').addEventListener('click', () => {
      if (upload && confirm('Stop the upload?')) upload.abort();
    });
    $('net-port-node').addEventListener('change', () => {
      const ports = JSON.parse($('net-port-form').dataset.ports || '{}');
      $('net-port-port').value = ports[$('net-port-node').value] || '';
    });
    $('email-edit').addEventListener('click', openEmail);
    $('email-remove').addEventListener('click', removeEmail);
    $('password-open').addEventListener('click', () => openPassword(session.user));
    for (const t of TABS) $('tab-btn-' + t).addEventListener('click', () => selectTab(t));
    // Arrow keys move between the tabs shown, as in a desktop tab strip.
    document.querySelector('.tabs').addEventListener('keydown', (ev) => {
      const shown = TABS.filter((t) => !$('tab-btn-' + t).hidden);
      const i = shown.indexOf(tab);
      const j = ev.key === 'ArrowRight' ? i + 1 : ev.key === 'ArrowLeft' ? i - 1 : -2;
      if (j === -2) return;
      const next = shown[(j + shown.length) % shown.length];
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
