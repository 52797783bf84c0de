/*
 * buildhooks settings page behaviour (GET /settings/assets/settings.js).
 * Owns: sign-in (token in sessionStorage only), the endpoints list and editor
 * (saveWebHookSettings replaces the whole list), ping, payload preview, the one-time
 * generated-secret reveal, the deliveries log and the delivery detail with redelivery.
 * Talks only to POST /graphql. Server strings reach the DOM through textContent only;
 * the token and secrets never go into URLs, logs or localStorage.
 */
(() => {
  'use strict';

  const TOKEN_KEY = 'buildhooks.token';
  const ACTIVE = new Set(['PENDING', 'IN_FLIGHT']);
  const DEFAULT_QUERY = [
    'query WebhookPayload($repositoryId: ID!, $buildId: ID!, $taskId: ID) {',
    '  repository(id: $repositoryId) { id owner name isPrivate }',
    '  build(id: $buildId) { id name branch changeIdInRepo status changeTimestamp }',
    '  task(id: $taskId) { id name status creationTimestamp finalStatusTimestamp }',
    '}',
  ].join('\n');
  const EP_FIELDS = 'id webhookURL maskedSecretToken events repositoryId query enabled';
  const Q = {
    owner: 'query($uid: ID){ ownerInfo(uid: $uid) { uid name platform repositories { id name } } }',
    endpoints: `query($uid: ID){ ownerInfo(uid: $uid) { webhookSettings { endpoints { ${EP_FIELDS} } } } }`,
    save: `mutation($input: SaveWebHookSettingsInput!){ saveWebHookSettings(input: $input) { settings { endpoints { ${EP_FIELDS} generatedSecretToken } } } }`,
    preview: 'query($repositoryId: ID!, $query: String){ webhookPreview(repositoryId: $repositoryId, query: $query) { body errors } }',
    ping: 'mutation($input: WebhookPingInput!){ webhookPing(input: $input) { delivery { id state attempts { number status durationMs error } } } }',
    pingPoll: 'query($id: String!){ webhookDelivery(id: $id) { id state attempts { number status durationMs error } } }',
    deliveries: 'query($uid: ID, $after: String){ ownerInfo(uid: $uid) { webhookDeliveries(first: 50, after: $after) { edges { cursor node { id timestamp state webhookURL attemptCount payload { event action } } } pageInfo { hasNextPage endCursor } } } }',
    delivery: 'query($id: String!){ webhookDelivery(id: $id) { id timestamp state webhookURL attemptCount payload { event action data } requestHeaders { name value } attempts { number at durationMs status error responseExcerpt } } }',
    redeliver: 'mutation($input: WebhookRedeliverInput!){ webhookRedeliver(input: $input) { delivery { id state } } }',
  };
  // extensions.field suffix -> editor control id (its error element is `${id}-error`).
  const FIELD_CONTROLS = { webhookURL: 'ep-url', events: 'ep-events', query: 'ep-query', secretToken: 'ep-secret', repositoryId: 'ep-repository' };

  const state = {
    uid: '', token: null, owner: null, repos: [], endpoints: [],
    editingId: undefined, // undefined: editor closed; null: new endpoint; else the endpoint id
    saving: false, pings: new Map(), cursor: null,
    detailId: null, detail: null, pollGen: 0, detailOpener: null, afterSecret: null,
  };

  const $ = (id) => document.getElementById(id);
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  /** Creates an element; string children become text nodes (never parsed as HTML). */
  function el(tag, props, ...kids) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v == null || v === false) continue;
      if (k === 'class') n.className = v;
      else if (k === 'text') n.textContent = v;
      else if (k === 'dataset') Object.assign(n.dataset, v);
      else if (k.startsWith('on')) n.addEventListener(k.slice(2), v);
      else n.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of kids.flat()) if (c != null && c !== false) n.append(c instanceof Node ? c : String(c));
    return n;
  }

  function fmtTime(ms) {
    if (ms == null || ms === '') return '';
    const d = new Date(Number(ms));
    return Number.isNaN(d.getTime()) ? String(ms) : d.toLocaleString();
  }
  function timeEl(ms) {
    const d = new Date(Number(ms));
    return el('time', { datetime: Number.isNaN(d.getTime()) ? null : d.toISOString() }, fmtTime(ms));
  }
  function badge(stateText) {
    const s = String(stateText || 'UNKNOWN');
    return el('span', { class: `badge state-${s.toLowerCase().replace(/[^a-z_]/g, '')}` }, s);
  }
  function pretty(value) {
    if (value == null) return '';
    if (typeof value === 'string') {
      try { return JSON.stringify(JSON.parse(value), null, 2); } catch { return value; }
    }
    return JSON.stringify(value, null, 2);
  }

  // ---- status and errors ----------------------------------------------------------------
  function announce(msg) { $('status').textContent = msg || ''; }
  function showAppError(msg) { const e = $('app-error'); e.textContent = msg || ''; e.hidden = !msg; }

  // ---- GraphQL ----------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(message, errors, status, unauth) {
      super(message);
      this.errors = errors || [];
      this.status = status || 0;
      this.unauth = !!unauth;
    }
  }
  const codeOf = (e) => (e && e.extensions && e.extensions.code) || '';
  /** The GraphQL errors of a failure, or one made of its message (for network and other errors). */
  const errList = (err) => (err && err.errors && err.errors.length ? err.errors : [{ message: (err && err.message) || 'unknown error' }]);

  async function gql(query, variables, token) {
    let res;
    try {
      res = await fetch('/graphql', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json', Authorization: `Bearer ${token}` },
        body: JSON.stringify({ query, variables }),
        cache: 'no-store',
        credentials: 'same-origin',
        referrerPolicy: 'no-referrer',
      });
    } catch {
      throw new ApiError('Could not reach the server. Check your connection and try again.', [], 0);
    }
    let body = null;
    try { body = await res.json(); } catch { body = null; }
    const errors = body && Array.isArray(body.errors) ? body.errors : [];
    if (res.status === 401 || errors.some((e) => codeOf(e) === 'UNAUTHENTICATED')) {
      throw new ApiError('The API token is not valid.', errors, res.status, true);
    }
    if (errors.length) throw new ApiError(errors.map((e) => e.message).join('; '), errors, res.status);
    if (!res.ok || !body) throw new ApiError(`The server answered HTTP ${res.status}.`, [], res.status);
    return body.data || {};
  }

  /** gql with the session token; an authentication failure ends the session. */
  async function api(query, variables) {
    try {
      return await gql(query, variables, state.token);
    } catch (err) {
      if (err.unauth) signOut('Your session has ended (the token is no longer valid). Sign in again.');
      throw err;
    }
  }

  // ---- dialogs ----------------------------------------------------------------------------
  function openDialog(d, focusEl) {
    if (typeof d.showModal === 'function') { if (!d.open) d.showModal(); } else d.setAttribute('open', '');
    (focusEl || d).focus();
  }
  function closeDialog(d) {
    if (typeof d.close === 'function') { if (d.open) d.close(); return; }
    if (d.hasAttribute('open')) { d.removeAttribute('open'); d.dispatchEvent(new Event('close')); }
  }
  function wireDialog(d, onClose) {
    d.addEventListener('keydown', (e) => { if (e.key === 'Escape') { e.preventDefault(); closeDialog(d); } });
    d.addEventListener('close', onClose);
  }

  // ---- sign in / out ----------------------------------------------------------------------
  function showSignin(message) {
    $('app').hidden = true;
    $('signin').hidden = false;
    $('signout').hidden = true;
    $('org-name').textContent = '';
    const err = $('signin-error');
    err.textContent = message || '';
    err.hidden = !message;
    $('token').setAttribute('aria-invalid', message ? 'true' : 'false');
  }

  async function signIn(token, fromStorage) {
    const btn = $('signin-submit');
    btn.disabled = true;
    announce(fromStorage ? 'Checking your session…' : 'Signing in…');
    try {
      const data = await gql(Q.owner, { uid: state.uid }, token);
      if (!data.ownerInfo) throw new ApiError('no owner', [], 200);
      state.token = token;
      try { sessionStorage.setItem(TOKEN_KEY, token); } catch { /* storage unavailable: keep in memory */ }
      state.owner = data.ownerInfo;
      state.repos = data.ownerInfo.repositories || [];
      $('token').value = '';
      showSignin('');
      $('signin').hidden = true;
      $('app').hidden = false;
      $('signout').hidden = false;
      $('org-name').textContent = `${state.owner.name} (${state.owner.platform})`;
      announce(`Signed in to ${state.owner.name}.`);
      $('page-title').focus();
      await Promise.all([loadEndpoints(), loadDeliveries(false)]);
    } catch (err) {
      try { sessionStorage.removeItem(TOKEN_KEY); } catch { /* ignore */ }
      state.token = null;
      announce('');
      const network = err instanceof ApiError && err.status === 0 && !err.unauth && !err.errors.length;
      const msg = network ? err.message : 'That token is not valid for this organization';
      showSignin(fromStorage ? '' : msg);
      if (!fromStorage) $('token').focus();
    } finally {
      btn.disabled = false;
    }
  }

  function signOut(message) {
    try { sessionStorage.removeItem(TOKEN_KEY); } catch { /* ignore */ }
    state.token = null; state.owner = null; state.repos = []; state.endpoints = [];
    state.pings.clear(); state.cursor = null; state.pollGen++;
    closeEditor(false);
    closeDialog($('delivery-detail'));
    closeDialog($('secret-reveal'));
    $('endpoint-list').replaceChildren();
    $('deliveries-body').replaceChildren();
    showAppError('');
    showSignin(message || '');
    announce(message ? '' : 'Signed out.');
    $('token').focus();
  }

  // ---- endpoints list -----------------------------------------------------------------------
  async function loadEndpoints() {
    try {
      const data = await api(Q.endpoints, { uid: state.uid });
      state.endpoints = (data.ownerInfo && data.ownerInfo.webhookSettings.endpoints) || [];
      renderEndpoints();
    } catch (err) {
      if (!err.unauth) showAppError(`Could not load the endpoints: ${err.message}`);
    }
  }

  function repoName(id) {
    if (id == null) return 'All repositories';
    const r = state.repos.find((x) => String(x.id) === String(id));
    return r ? r.name : `Repository ${id}`;
  }

  function renderEndpoints() {
    const ul = $('endpoint-list');
    ul.replaceChildren();
    $('endpoints-empty').hidden = state.endpoints.length > 0;
    state.endpoints.forEach((ep, i) => {
      const urlId = `endpoint-${i}-url`;
      const ping = state.pings.get(ep.id);
      const action = (text, cls, handler) => el('button', {
        type: 'button', class: `btn small ${cls}`, 'aria-describedby': urlId, onclick: handler,
      }, text);
      ul.append(el('li', { class: 'endpoint card', id: `endpoint-${i}`, dataset: { id: ep.id } },
        el('div', { class: 'endpoint-head' },
          el('span', { class: 'url', id: urlId }, ep.webhookURL),
          el('span', { class: `badge ${ep.enabled ? 'enabled' : 'disabled'}` }, ep.enabled ? 'Enabled' : 'Disabled')),
        el('dl', { class: 'meta' },
          el('div', null, el('dt', null, 'Events'), el('dd', null, (ep.events || []).join(', '))),
          el('div', null, el('dt', null, 'Repository'), el('dd', null, repoName(ep.repositoryId))),
          el('div', null, el('dt', null, 'Secret'),
            el('dd', null, ep.maskedSecretToken ? el('code', { class: 'mask' }, ep.maskedSecretToken) : 'none')),
          el('div', null, el('dt', null, 'Payload'), el('dd', null, ep.query ? 'Custom query' : 'Default query'))),
        el('div', { class: 'actions' },
          action('Edit', 'ep-edit', (e) => openEditor(ep.id, e.currentTarget)),
          action(ep.enabled ? 'Disable' : 'Enable', 'ep-toggle', () => toggleEndpoint(ep.id)),
          action('Delete', 'danger ep-delete', () => deleteEndpoint(ep.id)),
          action('Send ping', 'ep-ping', (e) => pingEndpoint(ep.id, e.currentTarget)),
          el('span', { class: `ping-result ${ping ? ping.kind : ''}`, hidden: !ping }, ping ? ping.text : ''))));
    });
  }

  function endpointButton(id, cls) {
    const li = [...$('endpoint-list').children].find((x) => x.dataset.id === String(id));
    return li ? li.querySelector(`.${cls}`) : null;
  }

  /** An unchanged endpoint as saveWebHookSettings input (the mask keeps its secret). */
  function toInput(ep) {
    return {
      id: ep.id, webhookURL: ep.webhookURL, secretToken: ep.maskedSecretToken || null,
      events: ep.events, repositoryId: ep.repositoryId == null ? null : ep.repositoryId,
      query: ep.query == null ? null : ep.query, enabled: ep.enabled,
    };
  }

  /** Saves a whole list; returns {ok, generated, endpoints} or {ok: false, err}. */
  async function saveList(list) {
    const data = await api(Q.save, { input: { ownerUid: state.uid, deliveryEndpoints: list } });
    const saved = data.saveWebHookSettings.settings.endpoints || [];
    let generated = null;
    state.endpoints = saved.map((e) => {
      if (e.generatedSecretToken && !generated) generated = { secret: e.generatedSecretToken, url: e.webhookURL, id: e.id };
      const copy = { ...e };
      delete copy.generatedSecretToken;
      return copy;
    });
    renderEndpoints();
    return { generated, saved: state.endpoints };
  }

  /** Error text of a failed save made outside the editor (toggle, delete). */
  function listErrorText(err, list) {
    const parts = errList(err).map((e) => {
      const f = parseField(e);
      const msg = stripField(e);
      return f && list[f.index] ? `${list[f.index].webhookURL}: ${msg}` : msg;
    });
    return parts.join(' ');
  }

  async function toggleEndpoint(id) {
    const list = state.endpoints.map(toInput);
    const i = list.findIndex((e) => e.id === id);
    if (i < 0) return;
    list[i].enabled = !list[i].enabled;
    showAppError('');
    try {
      await saveList(list);
      announce(`${list[i].webhookURL} is now ${list[i].enabled ? 'enabled' : 'disabled'}.`);
      const b = endpointButton(id, 'ep-toggle');
      if (b) b.focus();
    } catch (err) {
      if (!err.unauth) showAppError(`Could not change the endpoint: ${listErrorText(err, list)}`);
    }
  }

  async function deleteEndpoint(id) {
    const ep = state.endpoints.find((e) => e.id === id);
    if (!ep || !window.confirm(`Delete the endpoint ${ep.webhookURL}? It will receive no more webhooks.`)) return;
    const list = state.endpoints.filter((e) => e.id !== id).map(toInput);
    showAppError('');
    try {
      await saveList(list);
      state.pings.delete(id);
      if (state.editingId === id) closeEditor(false);
      announce(`Deleted ${ep.webhookURL}.`);
      $('add-endpoint').focus();
    } catch (err) {
      if (!err.unauth) showAppError(`Could not delete the endpoint: ${listErrorText(err, list)}`);
    }
  }

  // ---- ping -----------------------------------------------------------------------------
  function setPing(id, text, kind) {
    state.pings.set(id, { text, kind });
    const li = [...$('endpoint-list').children].find((x) => x.dataset.id === String(id));
    const out = li && li.querySelector('.ping-result');
    if (out) { out.textContent = text; out.className = `ping-result ${kind}`; out.hidden = false; }
  }

  function describeAttempts(d) {
    const attempts = d.attempts || [];
    const a = attempts[attempts.length - 1];
    if (!a) return { text: String(d.state || 'pending').toLowerCase(), kind: d.state === 'DELIVERED' ? 'ok' : ACTIVE.has(d.state) ? 'pending' : 'error' };
    if (a.status != null && a.status !== 0) {
      const ok = a.status >= 200 && a.status < 300;
      return { text: `${a.status} in ${a.durationMs} ms`, kind: ok ? 'ok' : 'error' };
    }
    return { text: `failed: ${a.error || 'no response'}`, kind: 'error' };
  }

  async function pingEndpoint(id, btn) {
    if (btn.getAttribute('aria-disabled') === 'true') return;
    const ep = state.endpoints.find((e) => e.id === id);
    btn.setAttribute('aria-disabled', 'true');
    setPing(id, 'Sending…', 'pending');
    try {
      const data = await api(Q.ping, { input: { ownerUid: state.uid, endpointId: id } });
      let d = data.webhookPing.delivery;
      const deadline = Date.now() + 20000;
      while (d && (ACTIVE.has(d.state) || !(d.attempts || []).length) && Date.now() < deadline) {
        if ((d.attempts || []).length) setPing(id, `${describeAttempts(d).text}, retrying…`, 'pending');
        await sleep(500);
        if (!state.token) return;
        d = (await api(Q.pingPoll, { id: d.id })).webhookDelivery || d;
      }
      const r = describeAttempts(d || {});
      setPing(id, r.text, r.kind);
      announce(`Ping to ${ep ? ep.webhookURL : 'endpoint'}: ${r.text}.`);
      loadDeliveries(false);
    } catch (err) {
      if (!err.unauth) setPing(id, `failed: ${err.message}`, 'error');
    } finally {
      const b = endpointButton(id, 'ep-ping') || btn;
      b.removeAttribute('aria-disabled');
    }
  }

  // ---- endpoint editor ------------------------------------------------------------------------
  function fillRepoSelect(select, withAll, selected) {
    select.replaceChildren();
    if (withAll) select.append(el('option', { value: '' }, 'All repositories'));
    for (const r of state.repos) select.append(el('option', { value: r.id }, r.name));
    if (selected != null && state.repos.some((r) => String(r.id) === String(selected))) select.value = String(selected);
    else if (withAll && selected != null) {
      select.append(el('option', { value: selected }, `Repository ${selected}`)); // unknown to us; keep it
      select.value = String(selected);
    } else select.selectedIndex = 0;
  }

  const secretMode = () => (document.querySelector('input[name="ep-secret-mode"]:checked') || {}).value || 'none';
  function setSecretMode(mode) { const r = $(`ep-${mode}`); if (r) r.checked = true; }
  function syncQuery() { $('ep-query-wrap').hidden = !$('ep-custom-query').checked; }

  function openEditor(id, opener) {
    const ep = id == null ? null : state.endpoints.find((e) => e.id === id);
    state.editingId = ep ? ep.id : null;
    state.editorOpener = opener || $('add-endpoint');
    clearFormErrors();
    $('endpoint-form-title').textContent = ep ? 'Edit endpoint' : 'Add endpoint';
    $('ep-url').value = ep ? ep.webhookURL : '';
    $('ep-events').value = ep ? (ep.events || []).join(', ') : '*';
    fillRepoSelect($('ep-repository'), true, ep ? ep.repositoryId : null);
    $('ep-enabled').checked = ep ? !!ep.enabled : true;
    const hasSecret = !!(ep && ep.maskedSecretToken);
    $('ep-keep-option').hidden = !hasSecret;
    $('ep-keep').disabled = !hasSecret;
    $('ep-keep-mask').textContent = hasSecret ? ep.maskedSecretToken : '';
    setSecretMode(hasSecret ? 'keep' : ep ? 'none' : 'generate');
    $('ep-secret').value = '';
    $('ep-custom-query').checked = !!(ep && ep.query);
    $('ep-query').value = ep && ep.query ? ep.query : DEFAULT_QUERY;
    syncQuery();
    fillRepoSelect($('preview-repository'), false, ep ? ep.repositoryId : null);
    const noRepos = state.repos.length === 0;
    $('preview-note').hidden = !noRepos;
    $('preview-repository').disabled = noRepos;
    $('ep-preview').disabled = noRepos;
    $('preview-output').textContent = '';
    $('preview-output').hidden = true;
    $('endpoint-form').hidden = false;
    $('add-endpoint').setAttribute('aria-expanded', 'true');
    $('endpoint-form').scrollIntoView({ block: 'start' });
    $('ep-url').focus({ preventScroll: true });
  }

  function closeEditor(restoreFocus) {
    const form = $('endpoint-form');
    if (form.hidden) return;
    form.hidden = true;
    clearFormErrors();
    $('ep-secret').value = '';
    $('add-endpoint').setAttribute('aria-expanded', 'false');
    const opener = state.editorOpener;
    state.editingId = undefined;
    state.editorOpener = null;
    if (restoreFocus) {
      const target = opener && opener.isConnected ? opener : $('add-endpoint');
      target.focus();
    }
  }

  function parseField(e) {
    const f = e && e.extensions && e.extensions.field;
    const m = /^deliveryEndpoints\[(\d+)\]\.(\w+)$/.exec(f || '');
    return m ? { index: Number(m[1]), name: m[2] } : null;
  }
  /** The message without the `field: ` prefix the server puts in front of it. */
  function stripField(e) {
    const f = e && e.extensions && e.extensions.field;
    const msg = String((e && e.message) || '');
    return f && msg.startsWith(`${f}: `) ? msg.slice(f.length + 2) : msg;
  }

  function setFieldError(ctrlId, msg) {
    const c = $(ctrlId);
    const e = $(`${ctrlId}-error`);
    e.textContent = e.textContent ? `${e.textContent} ${msg}` : msg;
    e.hidden = false;
    c.setAttribute('aria-invalid', 'true');
    const ids = (c.getAttribute('aria-describedby') || '').split(/\s+/).filter(Boolean);
    if (!ids.includes(e.id)) c.setAttribute('aria-describedby', [e.id, ...ids].join(' '));
  }
  function clearFieldError(ctrlId) {
    const c = $(ctrlId);
    const e = $(`${ctrlId}-error`);
    e.textContent = '';
    e.hidden = true;
    c.removeAttribute('aria-invalid');
    const ids = (c.getAttribute('aria-describedby') || '').split(/\s+/).filter((x) => x && x !== e.id);
    if (ids.length) c.setAttribute('aria-describedby', ids.join(' ')); else c.removeAttribute('aria-describedby');
  }
  function setFormError(messages) {
    const box = $('ep-form-error');
    box.replaceChildren(...messages.map((m) => el('p', null, m)));
    box.hidden = messages.length === 0;
  }
  function clearFormErrors() {
    Object.values(FIELD_CONTROLS).forEach(clearFieldError);
    setFormError([]);
  }
  function focusFirstError() {
    const first = Object.values(FIELD_CONTROLS).map($).find((c) => c.getAttribute('aria-invalid') === 'true' && !c.closest('[hidden]'));
    if (first) first.focus(); else if (!$('ep-form-error').hidden) $('endpoint-form-title').focus();
  }

  /** Reads the editor into an endpoint input, or shows what is missing and returns null. */
  function readForm(ep) {
    const url = $('ep-url').value.trim();
    const events = $('ep-events').value.split(',').map((s) => s.trim()).filter(Boolean);
    const mode = secretMode();
    const custom = $('ep-custom-query').checked;
    const query = $('ep-query').value;
    let ok = true;
    const fail = (id, msg) => { setFieldError(id, msg); ok = false; };
    if (!url) fail('ep-url', 'Enter the URL that should receive the webhooks.');
    if (!events.length) fail('ep-events', 'Enter at least one event pattern, e.g. * for every event.');
    if (mode === 'own' && !$('ep-secret').value) fail('ep-secret', 'Type your secret, or choose another option.');
    if (custom && !query.trim()) fail('ep-query', 'Enter a query, or untick “Use a custom payload query”.');
    if (!ok) return null;
    const input = {
      webhookURL: url, events, repositoryId: $('ep-repository').value || null,
      query: custom ? query : null, enabled: $('ep-enabled').checked,
    };
    if (ep) input.id = ep.id;
    if (mode === 'keep' && ep && ep.maskedSecretToken) input.secretToken = ep.maskedSecretToken;
    else if (mode === 'generate') input.generateSecret = true;
    else if (mode === 'own') input.secretToken = $('ep-secret').value;
    else input.secretToken = '';
    return input;
  }

  async function onSave(ev) {
    ev.preventDefault();
    if (state.saving || state.editingId === undefined) return;
    clearFormErrors();
    const ep = state.editingId === null ? null : state.endpoints.find((e) => e.id === state.editingId);
    if (state.editingId !== null && !ep) {
      setFormError(['This endpoint no longer exists (it was deleted). Cancel, then add it again.']);
      $('endpoint-form-title').focus();
      return;
    }
    const edited = readForm(ep);
    if (!edited) { focusFirstError(); return; }
    const list = state.endpoints.map(toInput);
    const index = ep ? state.endpoints.indexOf(ep) : list.length;
    list[index] = edited;
    const save = $('ep-save');
    state.saving = true;
    save.setAttribute('aria-disabled', 'true');
    $('endpoint-form').setAttribute('aria-busy', 'true');
    announce('Saving…');
    try {
      const { generated, saved } = await saveList(list);
      const savedId = saved[index] ? saved[index].id : null;
      closeEditor(false);
      announce(ep ? 'Endpoint saved.' : 'Endpoint added.');
      const focusEdit = () => { const b = endpointButton(savedId, 'ep-edit'); (b || $('add-endpoint')).focus(); };
      if (generated) revealSecret(generated, focusEdit); else focusEdit();
    } catch (err) {
      if (err.unauth) return;
      announce('');
      const errors = errList(err);
      const formLevel = [];
      for (const e of errors) {
        const f = parseField(e);
        const ctrl = f && f.index === index ? FIELD_CONTROLS[f.name] : null;
        if (ctrl && !(ctrl === 'ep-query' && !$('ep-custom-query').checked)) setFieldError(ctrl, stripField(e));
        else if (f && f.index !== index && list[f.index]) formLevel.push(`Another endpoint (${list[f.index].webhookURL}) is not valid: ${stripField(e)}`);
        else formLevel.push(stripField(e));
      }
      setFormError(formLevel);
      focusFirstError();
    } finally {
      state.saving = false;
      save.removeAttribute('aria-disabled');
      $('endpoint-form').removeAttribute('aria-busy');
    }
  }

  async function onPreview() {
    const btn = $('ep-preview');
    const out = $('preview-output');
    const repositoryId = $('preview-repository').value;
    if (!repositoryId || btn.getAttribute('aria-disabled') === 'true') return;
    const query = $('ep-custom-query').checked ? $('ep-query').value : null;
    btn.setAttribute('aria-disabled', 'true');
    out.hidden = false;
    out.classList.remove('has-errors');
    out.textContent = 'Rendering the payload…';
    try {
      const p = (await api(Q.preview, { repositoryId, query })).webhookPreview || {};
      const errs = (p.errors || []).map((e) => (typeof e === 'string' ? e : (e && e.message) || JSON.stringify(e)));
      let text = p.body == null ? '(no body)' : pretty(p.body);
      if (errs.length) text += `\n\nErrors:\n${errs.map((m) => `- ${m}`).join('\n')}`;
      out.textContent = text;
      out.classList.toggle('has-errors', errs.length > 0);
    } catch (err) {
      if (err.unauth) return;
      const msgs = errList(err).map(stripField);
      out.textContent = `Errors:\n${msgs.map((m) => `- ${m}`).join('\n')}`;
      out.classList.add('has-errors');
    } finally {
      btn.removeAttribute('aria-disabled');
    }
  }

  // ---- generated secret, shown once -----------------------------------------------------
  function revealSecret(generated, after) {
    state.afterSecret = after;
    $('secret-endpoint').textContent = generated.url;
    $('secret-copy-status').textContent = '';
    const input = $('secret-value');
    input.value = generated.secret;
    openDialog($('secret-reveal'), input);
    input.select();
  }

  async function copySecret() {
    const input = $('secret-value');
    const text = input.value;
    if (!text) return;
    let ok = false;
    if (navigator.clipboard && window.isSecureContext) {
      try { await navigator.clipboard.writeText(text); ok = true; } catch { ok = false; }
    }
    if (!ok) {
      input.focus();
      input.select();
      input.setSelectionRange(0, text.length);
      try { ok = document.execCommand('copy'); } catch { ok = false; }
      $('secret-copy').focus();
    }
    $('secret-copy-status').textContent = ok
      ? 'Copied to the clipboard.'
      : 'Copying failed: select the secret and press Ctrl+C (⌘C on a Mac).';
  }

  function onSecretClosed() {
    const input = $('secret-value');
    input.value = '';
    input.removeAttribute('value');
    $('secret-copy-status').textContent = '';
    $('secret-endpoint').textContent = '';
    const after = state.afterSecret;
    state.afterSecret = null;
    if (after) after();
  }

  // ---- deliveries -------------------------------------------------------------------------
  async function loadDeliveries(older) {
    const refresh = $('deliveries-refresh');
    const olderBtn = $('deliveries-older');
    const btn = older ? olderBtn : refresh;
    if (btn.getAttribute('aria-disabled') === 'true') return;
    btn.setAttribute('aria-disabled', 'true');
    const body = $('deliveries-body');
    const firstNew = body.children.length;
    try {
      const data = await api(Q.deliveries, { uid: state.uid, after: older ? state.cursor : null });
      const conn = data.ownerInfo.webhookDeliveries;
      if (!older) body.replaceChildren();
      for (const edge of conn.edges || []) body.append(deliveryRow(edge.node));
      state.cursor = conn.pageInfo.endCursor;
      olderBtn.hidden = !conn.pageInfo.hasNextPage;
      const empty = body.children.length === 0;
      $('deliveries-empty').hidden = !empty;
      $('deliveries-wrap').hidden = empty;
      if (older) {
        announce(`Loaded ${(conn.edges || []).length} older deliveries.`);
        if (olderBtn.hidden) {
          const b = body.children[firstNew] && body.children[firstNew].querySelector('button');
          (b || refresh).focus();
        }
      } else if (btn === document.activeElement) announce('Deliveries refreshed.');
    } catch (err) {
      if (!err.unauth) showAppError(`Could not load the deliveries: ${err.message}`);
    } finally {
      btn.removeAttribute('aria-disabled');
    }
  }

  let rowSeq = 0;
  function deliveryRow(d) {
    rowSeq += 1;
    const descId = `delivery-row-${rowSeq}`;
    return el('tr', { dataset: { id: d.id } },
      el('td', { class: 'nowrap', id: descId }, timeEl(d.timestamp)),
      el('td', null, d.payload ? d.payload.event : ''),
      el('td', null, d.payload ? d.payload.action : ''),
      el('td', { class: 'url' }, d.webhookURL),
      el('td', { class: 'state-cell' }, badge(d.state)),
      el('td', { class: 'num attempts-cell' }, String(d.attemptCount)),
      el('td', null, el('button', {
        type: 'button', class: 'btn small delivery-details', 'aria-describedby': descId,
        onclick: (e) => openDelivery(d.id, e.currentTarget),
      }, 'Details')));
  }

  function updateRow(d) {
    const tr = [...$('deliveries-body').children].find((r) => r.dataset.id === String(d.id));
    if (!tr) return;
    tr.querySelector('.state-cell').replaceChildren(badge(d.state));
    tr.querySelector('.attempts-cell').textContent = String(d.attemptCount);
  }

  // ---- delivery detail ----------------------------------------------------------------------
  async function openDelivery(id, opener) {
    state.pollGen++;
    state.detailId = id;
    state.detail = null;
    state.detailOpener = opener;
    $('delivery-detail-title').textContent = 'Delivery';
    $('delivery-detail-error').hidden = true;
    $('delivery-content').hidden = true;
    $('delivery-loading').hidden = false;
    $('delivery-poll-status').textContent = '';
    $('delivery-redeliver').removeAttribute('aria-disabled');
    const dlg = $('delivery-detail');
    dlg.setAttribute('aria-busy', 'true');
    openDialog(dlg, $('delivery-detail-title'));
    try {
      const d = (await api(Q.delivery, { id })).webhookDelivery;
      if (state.detailId !== id) return;
      if (!d) throw new ApiError('This delivery no longer exists.', [], 200);
      renderDetail(d);
    } catch (err) {
      if (err.unauth || state.detailId !== id) return;
      $('delivery-detail-error').textContent = `Could not load the delivery: ${err.message}`;
      $('delivery-detail-error').hidden = false;
    } finally {
      if (state.detailId === id) { $('delivery-loading').hidden = true; dlg.removeAttribute('aria-busy'); }
    }
  }

  function renderDetail(d) {
    state.detail = d;
    const payload = d.payload || {};
    $('delivery-detail-title').textContent = `Delivery ${d.id}`;
    const row = (k, v) => el('div', null, el('dt', null, k), el('dd', null, v));
    $('delivery-summary').replaceChildren(
      row('Time', timeEl(d.timestamp)),
      row('Event', `${payload.event || ''}${payload.action ? ` · ${payload.action}` : ''}`),
      row('Endpoint', el('span', { class: 'url' }, d.webhookURL)),
      row('State', el('span', { id: 'delivery-state' }, badge(d.state))),
      row('Attempts', String(d.attemptCount)));
    $('delivery-headers').replaceChildren(...(d.requestHeaders || []).flatMap((h) => [
      el('dt', null, `${h.name}:`), el('dd', { class: 'mono' }, h.value)]));
    $('delivery-body').textContent = pretty(payload.data);
    const attempts = d.attempts || [];
    $('delivery-attempts').replaceChildren(...attempts.map((a) => {
      const ok = a.status != null && a.status >= 200 && a.status < 300;
      const result = a.status != null && a.status !== 0
        ? `${a.status}${a.error ? ` (${a.error})` : ''}` : a.error || 'no response';
      return el('tr', { class: 'attempt-row' },
        el('td', { class: 'num' }, String(a.number)),
        el('td', { class: 'nowrap' }, timeEl(a.at)),
        el('td', null, el('span', { class: `result ${ok ? 'ok' : 'error'}` }, result)),
        el('td', { class: 'num nowrap' }, `${a.durationMs} ms`),
        el('td', null, a.responseExcerpt ? el('pre', { class: 'excerpt' }, a.responseExcerpt) : '—'));
    }));
    $('delivery-no-attempts').hidden = attempts.length > 0;
    $('delivery-attempts-wrap').hidden = attempts.length === 0;
    $('delivery-content').hidden = false;
    updateRow(d);
  }

  async function redeliver() {
    const btn = $('delivery-redeliver');
    const id = state.detailId;
    if (!id || btn.getAttribute('aria-disabled') === 'true') return;
    const gen = ++state.pollGen;
    const before = state.detail ? state.detail.attemptCount : 0;
    const status = $('delivery-poll-status');
    btn.setAttribute('aria-disabled', 'true');
    status.textContent = 'Redelivering…';
    $('delivery-detail-error').hidden = true;
    try {
      await api(Q.redeliver, { input: { deliveryId: id } });
      const deadline = Date.now() + 20000;
      while (Date.now() < deadline) {
        await sleep(500);
        if (gen !== state.pollGen) return;
        const d = (await api(Q.delivery, { id })).webhookDelivery;
        if (gen !== state.pollGen || !d) return;
        renderDetail(d);
        if (d.attemptCount > before && !ACTIVE.has(d.state)) {
          status.textContent = `Redelivered: ${d.state.toLowerCase()}.`;
          return;
        }
      }
      status.textContent = 'Still in progress after 20 s. Close and reopen this delivery to check again.';
    } catch (err) {
      if (err.unauth || gen !== state.pollGen) return;
      status.textContent = '';
      $('delivery-detail-error').textContent = `Could not redeliver: ${err.message}`;
      $('delivery-detail-error').hidden = false;
    } finally {
      if (gen === state.pollGen) btn.removeAttribute('aria-disabled');
    }
  }

  function onDetailClosed() {
    state.pollGen++;
    state.detailId = null;
    state.detail = null;
    const opener = state.detailOpener;
    const openedId = opener && opener.closest('tr') ? opener.closest('tr').dataset.id : null;
    state.detailOpener = null;
    if (!state.token) return;
    if (opener && opener.isConnected) { opener.focus(); return; }
    const tr = [...$('deliveries-body').children].find((r) => r.dataset.id === openedId);
    ((tr && tr.querySelector('button')) || $('deliveries-refresh')).focus();
  }

  // ---- start ------------------------------------------------------------------------------
  function init() {
    const segments = window.location.pathname.split('/').filter(Boolean);
    try { state.uid = decodeURIComponent(segments[segments.length - 1] || ''); } catch { state.uid = ''; }
    if (!state.uid || segments.length < 2) {
      showSignin('This address names no organization: open /settings/<owner uid>.');
      $('signin-submit').disabled = true;
      return;
    }
    $('ep-query').value = DEFAULT_QUERY;
    $('signin-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const token = $('token').value.trim();
      if (!token) { showSignin('Enter the API token of this organization.'); $('token').focus(); return; }
      signIn(token, false);
    });
    $('signout').addEventListener('click', () => signOut(''));
    $('add-endpoint').addEventListener('click', (e) => openEditor(null, e.currentTarget));
    $('endpoint-form').addEventListener('submit', onSave);
    $('ep-cancel').addEventListener('click', () => closeEditor(true));
    $('ep-custom-query').addEventListener('change', syncQuery);
    $('ep-secret').addEventListener('input', () => { if ($('ep-secret').value) setSecretMode('own'); });
    for (const id of Object.values(FIELD_CONTROLS)) {
      $(id).addEventListener(id === 'ep-repository' ? 'change' : 'input', () => clearFieldError(id));
    }
    document.querySelectorAll('input[name="ep-secret-mode"]').forEach((r) => r.addEventListener('change', () => clearFieldError('ep-secret')));
    $('ep-preview').addEventListener('click', onPreview);
    $('secret-copy').addEventListener('click', copySecret);
    $('secret-done').addEventListener('click', () => closeDialog($('secret-reveal')));
    wireDialog($('secret-reveal'), onSecretClosed);
    $('deliveries-refresh').addEventListener('click', () => loadDeliveries(false));
    $('deliveries-older').addEventListener('click', () => loadDeliveries(true));
    $('delivery-close').addEventListener('click', () => closeDialog($('delivery-detail')));
    $('delivery-redeliver').addEventListener('click', redeliver);
    wireDialog($('delivery-detail'), onDetailClosed);

    let saved = null;
    try { saved = sessionStorage.getItem(TOKEN_KEY); } catch { saved = null; }
    if (saved) { $('signin').hidden = true; signIn(saved, true); } else showSignin('');
  }

  init();
})();
