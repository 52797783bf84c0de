/*
 * buildhooks settings page behaviour (GET /settings/assets/settings.js).
 * Owns: sign-in (token in sessionStorage only), the endpoints list and editor
 * (saveWebHookSettings replaces the whole list), ping / test message with the receiver's
 * answer, payload and chat message previews, the build URL template, the one-time
 * generated-secret reveal.
 * What differs per endpoint kind (webhook, chat robots, NATS and AMQP brokers) lives in
 * settings-chat.js, the payload format (DOCUMENTED or CIRRUS) in settings-format.js, the
 * inbound CI sources section in settings-inbound.js, the deliveries (table, filters, paging,
 * detail, redelivery) in settings-deliveries.js.
 * Talks only to POST /graphql. Server strings reach the DOM through textContent only;
 * the token and secrets never go into URLs, logs or localStorage.
 */
(() => {
  'use strict';

  const TOKEN_KEY = 'buildhooks.token';
  const ACTIVE = new Set(['PENDING', 'IN_FLIGHT']);
  const POLL_MS = 500;
  const POLL_LIMIT_MS = 20000;
  // Copied from schema/src/webhook/format.rs (DEFAULT_QUERY); CIRRUS_QUERY is in settings-format.js.
  const DEFAULT_QUERY = [
    'query WebhookPayload($repositoryId: ID!, $buildId: ID!, $taskId: ID) {',
    '  repository(id: $repositoryId) { id owner name isPrivate }',
    '  build(id: $buildId) { id name branch changeIdInRepo status changeTimestamp }',
    '  task(id: $taskId) { id name status creationTimestamp finalStatusTimestamp }',
    '}',
  ].join('\n');
  const EP_FIELDS = 'id kind webhookURL maskedSecretToken events repositoryId query enabled maxInFlight template ordering digest atMobiles isAtAll mentionedList broker subject exchange payloadFormat';
  const ATTEMPT_FIELDS = 'attempts { number status durationMs error responseExcerpt }';
  const Q = {
    owner: 'query($uid: ID){ ownerInfo(uid: $uid) { uid name platform repositories(first: 100) { edges { node { id name } } pageInfo { hasNextPage endCursor } } } }',
    repos: 'query($uid: ID, $after: String){ ownerInfo(uid: $uid) { repositories(first: 100, after: $after) { edges { node { id name } } pageInfo { hasNextPage endCursor } } } }',
    endpoints: `query($uid: ID){ ownerInfo(uid: $uid) { webhookSettings { buildUrlTemplate endpoints { ${EP_FIELDS} } } } }`,
    save: `mutation($input: SaveWebHookSettingsInput!){ saveWebHookSettings(input: $input) { settings { buildUrlTemplate endpoints { ${EP_FIELDS} generatedSecretToken } } } }`,
    preview: 'query($repositoryId: ID!, $query: String, $payloadFormat: PayloadFormat){ webhookPreview(repositoryId: $repositoryId, query: $query, payloadFormat: $payloadFormat) { body errors } }',
    ping: `mutation($input: WebhookPingInput!){ webhookPing(input: $input) { delivery { id state ${ATTEMPT_FIELDS} } } }`,
    pingPoll: `query($id: String!){ webhookDelivery(id: $id) { id state ${ATTEMPT_FIELDS} } }`,
  };
  // Last segment of extensions.field -> editor control id (its error element is `${id}-error`).
  const FIELD_CONTROLS = {
    webhookURL: 'ep-url', events: 'ep-events', query: 'ep-query', secretToken: 'ep-secret', repositoryId: 'ep-repository',
    kind: 'ep-kind', maxInFlight: 'ep-max-in-flight', template: 'ep-template', ordering: 'ep-ordering', digest: 'ep-digest',
    atMobiles: 'ep-at-mobiles', isAtAll: 'ep-is-at-all', mentionedList: 'ep-mentioned-list',
    broker: 'ep-broker', subject: 'ep-subject', exchange: 'ep-exchange', payloadFormat: 'ep-payload-format',
  };
  let chat = null; // settings-chat.js, bound at start
  let inbound = null; // settings-inbound.js, bound at start
  let format = null; // settings-format.js, bound at start
  let deliveries = null; // settings-deliveries.js, bound at start

  const state = {
    uid: '', token: null, owner: null, repos: [], endpoints: [], pings: new Map(), previews: new Map(),
    buildUrlTemplate: null,
    editingId: undefined, // undefined: editor closed; null: adding; otherwise the endpoint's id
    editorOpener: null, saving: false, afterSecret: null,
    detailId: null, detail: null, detailOpener: null, pollGen: 0,
  };

  // ---- small helpers ------------------------------------------------------------------------
  const $ = (id) => document.getElementById(id);
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const isBusy = (b) => b.getAttribute('aria-disabled') === 'true';
  const setBusy = (b, on) => (on ? b.setAttribute('aria-disabled', 'true') : b.removeAttribute('aria-disabled'));

  /** Creates an element; string children become text nodes (never parsed as HTML). */
  function el(tag, props, ...kids) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v == null || v === false) continue;
      if (k === 'class') n.className = v;
      else if (k === 'dataset') Object.assign(n.dataset, v);
      else if (k.startsWith('on')) n.addEventListener(k.slice(2), v);
      else n.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of kids.flat()) if (c != null && c !== false) n.append(c instanceof Node ? c : String(c));
    return n;
  }
  const pair = (k, v) => el('div', null, el('dt', null, k), el('dd', null, v));

  function timeEl(ms) {
    const d = new Date(Number(ms));
    const ok = ms != null && !Number.isNaN(d.getTime());
    return el('time', { datetime: ok ? d.toISOString() : null }, ok ? d.toLocaleString() : String(ms ?? ''));
  }
  function badge(text) {
    const s = String(text || 'UNKNOWN');
    return el('span', { class: `badge state-${s.toLowerCase().replace(/[^a-z_]/g, '')}` }, s);
  }
  function pretty(value) {
    if (value == null) return '';
    if (typeof value !== 'string') return JSON.stringify(value, null, 2);
    try { return JSON.stringify(JSON.parse(value), null, 2); } catch { return value; }
  }
  const show = (id, on) => { $(id).hidden = !on; };
  const setText = (id, text) => { $(id).textContent = text || ''; };
  const announce = (msg) => setText('status', msg);
  function showAlert(id, msg) { setText(id, msg); show(id, !!msg); }

  // ---- GraphQL ------------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(message, errors, status, unauth) {
      super(message);
      Object.assign(this, { errors: errors || [], status: status || 0, unauth: !!unauth });
    }
  }
  const codeOf = (e) => (e && e.extensions && e.extensions.code) || '';
  /** The GraphQL errors of a failure, or one made of its message (network and other failures). */
  const errList = (err) => (err && err.errors && err.errors.length ? err.errors : [{ message: (err && err.message) || 'unknown error' }]);

  async function gql(query, variables, token) {
    let res;
    try {
      res = await fetch('/graphql', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json', Authorization: `Bearer ${token}` },
        body: JSON.stringify({ query, variables }),
        cache: 'no-store', credentials: 'same-origin', referrerPolicy: 'no-referrer',
      });
    } catch {
      throw new ApiError('Could not reach the server. Check your connection and try again.', [], 0);
    }
    let body = null;
    try { body = await res.json(); } catch { body = null; }
    const errors = body && Array.isArray(body.errors) ? body.errors : [];
    if (res.status === 401 || errors.some((e) => codeOf(e) === 'UNAUTHENTICATED')) {
      throw new ApiError('The API token is not valid.', errors, res.status || 401, true);
    }
    if (errors.length) throw new ApiError(errors.map((e) => e.message).join('; '), errors, res.status);
    if (!res.ok || !body) throw new ApiError(`The server answered HTTP ${res.status}.`, [], res.status);
    return body.data || {};
  }

  /** gql with the session's token; an authentication failure ends the session. */
  async function api(query, variables) {
    try { return await gql(query, variables, state.token); } catch (err) {
      if (err.unauth) signOut('Your session has ended (the token is no longer valid). Sign in again.');
      throw err;
    }
  }

  // ---- dialogs (native <dialog>: modal, focus inside, Escape closes) ------------------------
  // Every close (button, Escape, sign-out) goes through closeDialog, which runs the dialog's
  // handler synchronously and exactly once (the native close event would come a task later).
  const dialogClosers = new Map();
  function openDialog(d, focusEl) { if (!d.open) d.showModal(); (focusEl || d).focus(); }
  function closeDialog(d) {
    if (!d.open) return;
    d.close();
    dialogClosers.get(d)();
  }
  function wireDialog(d, onClose) {
    dialogClosers.set(d, onClose);
    d.addEventListener('keydown', (e) => { if (e.key === 'Escape') { e.preventDefault(); closeDialog(d); } });
    d.addEventListener('cancel', (e) => { e.preventDefault(); closeDialog(d); });
  }

  // ---- sign in / out ------------------------------------------------------------------------
  function showSignin(message) {
    show('app', false); show('signout', false); show('signin', true);
    setText('org-name', '');
    showAlert('signin-error', message);
    $('token').setAttribute('aria-invalid', message ? 'true' : 'false');
  }

  // Every repository of the organization (a connection, oldest first), sorted by name.
  async function allRepos(first, token) {
    const repos = [];
    for (let conn = first; conn;) {
      repos.push(...(conn.edges || []).map((edge) => edge.node));
      if (!conn.pageInfo.hasNextPage) break;
      conn = (await gql(Q.repos, { uid: state.uid, after: conn.pageInfo.endCursor }, token)).ownerInfo.repositories;
    }
    return repos.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async function signIn(token, fromStorage) {
    const btn = $('signin-submit');
    btn.disabled = true;
    announce(fromStorage ? 'Checking your session…' : 'Signing in…');
    try {
      const data = await gql(Q.owner, { uid: state.uid }, token);
      if (!data.ownerInfo) throw new ApiError('no such organization', [], 200);
      Object.assign(state, { token, owner: data.ownerInfo, repos: await allRepos(data.ownerInfo.repositories, token) });
      try { sessionStorage.setItem(TOKEN_KEY, token); } catch { /* storage blocked: keep it in memory */ }
      $('token').value = '';
      showAlert('signin-error', '');
      show('signin', false); show('app', true); show('signout', true);
      setText('org-name', `${state.owner.name} (${state.owner.platform})`);
      announce(`Signed in to ${state.owner.name}.`);
      $('page-title').focus();
      await Promise.all([chat.loadBrokers(), loadEndpoints().then(() => deliveries.load()), inbound.load()]);
    } catch (err) {
      try { sessionStorage.removeItem(TOKEN_KEY); } catch { /* ignore */ }
      state.token = null;
      announce('');
      const network = err instanceof ApiError && err.status === 0 && !err.unauth;
      showSignin(fromStorage ? '' : network ? err.message : 'That token is not valid for this organization');
      if (!fromStorage) $('token').focus();
    } finally { btn.disabled = false; }
  }

  function signOut(message) {
    try { sessionStorage.removeItem(TOKEN_KEY); } catch { /* ignore */ }
    Object.assign(state, { token: null, owner: null, repos: [], endpoints: [], buildUrlTemplate: null });
    state.pings.clear(); state.previews.clear();
    $('build-url-template').value = '';
    state.pollGen++;
    closeEditor(false);
    closeDialog($('delivery-detail')); closeDialog($('secret-reveal'));
    inbound.reset();
    chat.resetBrokers();
    $('endpoint-list').replaceChildren(); deliveries.reset();
    showAlert('app-error', '');
    showSignin(message);
    announce(message ? '' : 'Signed out.');
    $('token').focus();
  }

  // ---- endpoints list -----------------------------------------------------------------------
  async function loadEndpoints() {
    try {
      const data = await api(Q.endpoints, { uid: state.uid });
      const settings = (data.ownerInfo && data.ownerInfo.webhookSettings) || {};
      state.endpoints = settings.endpoints || [];
      chat.setBuildUrlTemplate(settings.buildUrlTemplate);
      renderEndpoints();
    } catch (err) { if (!err.unauth) showAlert('app-error', `Could not load the endpoints: ${err.message}`); }
  }

  function repoName(id) {
    if (id == null) return 'All repositories';
    const r = state.repos.find((x) => String(x.id) === String(id));
    return r ? r.name : `Repository ${id}`;
  }

  function renderEndpoints() {
    $('endpoints-empty').hidden = state.endpoints.length > 0;
    $('endpoint-list').replaceChildren(...state.endpoints.map((ep, i) => {
      const urlId = `endpoint-${i}-url`;
      const ping = state.pings.get(ep.id);
      const kind = ep.kind || 'WEBHOOK';
      const robot = chat.isChat(kind);
      const previewed = state.previews.get(ep.id);
      const action = (text, cls, handler) => el('button', {
        type: 'button', class: `btn small ${cls}`, 'aria-describedby': urlId, onclick: handler,
      }, text);
      return el('li', { class: 'endpoint card', id: `endpoint-${i}`, dataset: { id: ep.id, kind } },
        el('div', { class: 'endpoint-head' },
          el('span', { class: 'url', id: urlId }, chat.targetName(ep)),
          el('span', { class: 'badges' },
            el('span', { class: 'badge kind' }, chat.label(kind)),
            format.tag(ep),
            el('span', { class: `badge ${ep.enabled ? 'enabled' : 'disabled'}` }, ep.enabled ? 'Enabled' : 'Disabled'))),
        el('dl', { class: 'meta' },
          pair('Events', (ep.events || []).join(', ')),
          pair('Repository', repoName(ep.repositoryId)),
          chat.secretKind(kind) ? pair(robot ? 'Signing secret' : 'Secret',
            ep.maskedSecretToken ? el('code', { class: 'mask' }, ep.maskedSecretToken) : 'none') : null,
          pair('Payload', ep.query ? 'Custom query' : 'Default query'),
          robot ? pair('Message', ep.template ? 'Custom template' : 'Default message') : null,
          pair('Order', ep.ordering === 'PER_BUILD' ? 'Per build' : 'None'),
          robot ? pair('Digest', ep.digest ? 'On' : 'Off') : null,
          kind === 'DINGTALK' && (ep.isAtAll || (ep.atMobiles || []).length)
            ? pair('Mentions', [ep.isAtAll ? '@all' : '', ...(ep.atMobiles || [])].filter(Boolean).join(', ')) : null,
          kind === 'WECOM' && (ep.mentionedList || []).length ? pair('Mentions', ep.mentionedList.join(', ')) : null),
        el('div', { class: 'actions' },
          action('Edit', 'ep-edit', (e) => openEditor(ep.id, e.currentTarget)),
          action(ep.enabled ? 'Disable' : 'Enable', 'ep-toggle', () => toggleEndpoint(ep.id)),
          action('Delete', 'danger ep-delete', () => deleteEndpoint(ep.id)),
          robot ? action('Preview', 'ep-preview-message', (e) => chat.previewEndpoint(ep.id, e.currentTarget)) : null,
          action(robot ? 'Send test message' : 'Send ping', 'ep-ping', (e) => pingEndpoint(ep.id, e.currentTarget)),
          el('span', { class: `ping-result ${ping ? ping.kind : ''}`, hidden: !ping }, ping ? ping.text : '')),
        el('div', { class: 'ping-answer-slot' }, robot && ping && ping.answer ? chat.answerView(ping.answer) : null),
        el('div', { class: 'chat-preview', 'aria-live': 'polite', hidden: !previewed },
          previewed ? chat.previewView(kind, previewed.p, previewed.failure) : null));
    }));
    deliveries.syncEndpoints();
  }

  const endpointItem = (id) => [...$('endpoint-list').children].find((li) => li.dataset.id === String(id));
  function endpointButton(id, cls) { const li = endpointItem(id); return li ? li.querySelector(`.${cls}`) : null; }

  /** An unchanged endpoint as saveWebHookSettings input (sending the masks back keeps its
   *  secret and, for a chat robot, its URL). */
  function toInput(ep) {
    return {
      id: ep.id, webhookURL: ep.webhookURL, secretToken: ep.maskedSecretToken || null, events: ep.events,
      repositoryId: ep.repositoryId ?? null, query: ep.query ?? null, enabled: ep.enabled, ...chat.saved(ep),
    };
  }

  /** Saves the whole list (and `extra` settings such as buildUrlTemplate) and re-renders;
   *  resolves to the first generated secret, if any. */
  async function saveList(list, extra) {
    const data = await api(Q.save, { input: { ownerUid: state.uid, deliveryEndpoints: list, ...extra } });
    const settings = data.saveWebHookSettings.settings;
    let generated = null;
    state.endpoints = (settings.endpoints || []).map((e) => {
      const { generatedSecretToken, ...rest } = e;
      if (generatedSecretToken && !generated) generated = { secret: generatedSecretToken, url: chat.targetName(e) };
      return rest;
    });
    state.previews.clear(); // rendered with the settings before this save
    chat.setBuildUrlTemplate(settings.buildUrlTemplate);
    renderEndpoints();
    return generated;
  }

  function parseField(e) {
    const m = /^deliveryEndpoints\[(\d+)\]\.(\w+)/.exec((e && e.extensions && e.extensions.field) || '');
    return m ? { index: Number(m[1]), name: m[2] } : null;
  }
  /** The message without the `field: ` prefix the server puts in front of it. */
  function stripField(e) {
    const f = e && e.extensions && e.extensions.field;
    const msg = String((e && e.message) || '');
    return f && msg.startsWith(`${f}: `) ? msg.slice(f.length + 2) : msg;
  }
  /** Error text of a save made outside the editor (enable/disable, delete). */
  const listErrorText = (err, list) => errList(err).map((e) => {
    const f = parseField(e);
    return f && list[f.index] ? `${chat.targetName(list[f.index])}: ${stripField(e)}` : stripField(e);
  }).join(' ');

  /** A save made from the list (enable/disable, delete): errors go to the page-level alert. */
  async function saveFromList(list, done, what) {
    showAlert('app-error', '');
    try {
      await saveList(list);
      done();
    } catch (err) { if (!err.unauth) showAlert('app-error', `Could not ${what} the endpoint: ${listErrorText(err, list)}`); }
  }
  function toggleEndpoint(id) {
    const list = state.endpoints.map(toInput);
    const target = list.find((e) => e.id === id);
    if (!target) return;
    target.enabled = !target.enabled;
    saveFromList(list, () => {
      announce(`${chat.targetName(target)} is now ${target.enabled ? 'enabled' : 'disabled'}.`);
      const b = endpointButton(id, 'ep-toggle');
      if (b) b.focus();
    }, 'change');
  }
  function deleteEndpoint(id) {
    const ep = state.endpoints.find((e) => e.id === id);
    if (!ep || !window.confirm(`Delete the endpoint ${chat.targetName(ep)}? It will receive no more webhooks.`)) return;
    saveFromList(state.endpoints.filter((e) => e.id !== id).map(toInput), () => {
      state.pings.delete(id);
      if (state.editingId === id) closeEditor(false);
      announce(`Deleted ${chat.targetName(ep)}.`);
      $('add-endpoint').focus();
    }, 'delete');
  }

  // ---- ping / test message ---------------------------------------------------------------------
  /** Shows the outcome on the endpoint's card; `answer` is the receiver's (a robot's) answer. */
  function setPing(id, text, kind, answer) {
    state.pings.set(id, { text, kind, answer });
    const li = endpointItem(id);
    if (!li) return;
    const out = li.querySelector('.ping-result');
    out.textContent = text; out.className = `ping-result ${kind}`; out.hidden = false;
    li.querySelector('.ping-answer-slot').replaceChildren(...(answer && chat.isChat(li.dataset.kind) ? [chat.answerView(answer)] : []));
  }

  /** "200 in 12 ms" / "failed: connect" / "failed: vendor_error (HTTP 200, 40 ms)" / "acknowledged
   *  in 3 ms" (a broker: no HTTP status) for the last attempt of a delivery, with the receiver's
   *  answer. A robot's error code fails a 200. */
  function describeAttempts(d) {
    const a = (d.attempts || []).slice(-1)[0];
    if (!a) {
      const kind = d.state === 'DELIVERED' ? 'ok' : ACTIVE.has(d.state) ? 'pending' : 'error';
      return { text: String(d.state || 'pending').toLowerCase(), kind };
    }
    const answer = a.responseExcerpt || '';
    if (a.status && a.error) return { text: `failed: ${a.error} (HTTP ${a.status}, ${a.durationMs} ms)`, kind: 'error', answer };
    if (a.status) return { text: `${a.status} in ${a.durationMs} ms`, kind: a.status >= 200 && a.status < 300 ? 'ok' : 'error', answer };
    if (!a.error) return { text: `acknowledged in ${a.durationMs} ms`, kind: 'ok', answer };
    return { text: `failed: ${a.error}`, kind: 'error', answer };
  }

  /** Re-reads a delivery every POLL_MS until `settled(d)`; null when cancelled or after 20 s. */
  async function pollDelivery(query, id, cancelled, settled, onUpdate) {
    for (const deadline = Date.now() + POLL_LIMIT_MS; Date.now() < deadline;) {
      await sleep(POLL_MS);
      if (cancelled()) return null;
      const d = (await api(query, { id })).webhookDelivery;
      if (!d || cancelled()) return null;
      onUpdate(d);
      if (settled(d)) return d;
    }
    return null;
  }

  async function pingEndpoint(id, btn) {
    if (isBusy(btn)) return;
    const ep = state.endpoints.find((e) => e.id === id);
    const what = ep && chat.isChat(ep.kind) ? 'Test message' : 'Ping';
    setBusy(btn, true);
    setPing(id, 'Sending…', 'pending');
    try {
      let d = (await api(Q.ping, { input: { ownerUid: state.uid, endpointId: id } })).webhookPing.delivery;
      const settled = (x) => !ACTIVE.has(x.state);
      // A 5xx or a timeout is retried once, a robot's rate limit after its window: wait for the
      // final outcome.
      if (d && !settled(d)) {
        await pollDelivery(Q.pingPoll, d.id, () => !state.token, settled, (x) => {
          d = x;
          const r = describeAttempts(x);
          if ((x.attempts || []).length && !settled(x)) setPing(id, `${r.text}, retrying…`, 'pending', r.answer);
        });
        if (!state.token) return;
      }
      const r = describeAttempts(d || {});
      setPing(id, r.text, r.kind, r.answer);
      announce(`${what} to ${ep ? chat.targetName(ep) : 'the endpoint'}: ${r.text}.`);
      deliveries.load();
    } catch (err) {
      if (!err.unauth) setPing(id, `failed: ${err.message}`, 'error');
    } finally { setBusy(endpointButton(id, 'ep-ping') || btn, false); }
  }

  // ---- endpoint editor ------------------------------------------------------------------------
  function fillRepoSelect(select, withAll, selected) {
    select.replaceChildren(...(withAll ? [el('option', { value: '' }, 'All repositories')] : []),
      ...state.repos.map((r) => el('option', { value: r.id }, r.name)));
    const known = selected != null && state.repos.some((r) => String(r.id) === String(selected));
    if (selected != null && !known && withAll) select.append(el('option', { value: selected }, `Repository ${selected}`));
    if (selected != null && (known || withAll)) select.value = String(selected); else select.selectedIndex = 0;
  }

  const secretMode = () => (document.querySelector('input[name="ep-secret-mode"]:checked') || {}).value || 'none';
  const setSecretMode = (mode) => { $(`ep-${mode}`).checked = true; };
  const syncQuery = () => { $('ep-query-wrap').hidden = !$('ep-custom-query').checked; };

  function openEditor(id, opener) {
    const ep = id == null ? null : state.endpoints.find((e) => e.id === id);
    state.editingId = ep ? ep.id : null;
    state.editorOpener = opener || $('add-endpoint');
    clearFormErrors();
    setText('endpoint-form-title', ep ? 'Edit endpoint' : 'Add endpoint');
    $('ep-url').value = ep ? ep.webhookURL : '';
    $('ep-events').value = ep ? (ep.events || []).join(', ') : '*';
    fillRepoSelect($('ep-repository'), true, ep ? ep.repositoryId : null);
    $('ep-enabled').checked = ep ? !!ep.enabled : true;
    chat.fill(ep, ep ? ep.kind || 'WEBHOOK' : 'WEBHOOK');
    setText('chat-preview-output', ''); show('chat-preview-output', false);
    const hasSecret = !!(ep && ep.maskedSecretToken);
    show('ep-keep-option', hasSecret);
    $('ep-keep').disabled = !hasSecret;
    setText('ep-keep-mask', hasSecret ? ep.maskedSecretToken : '');
    setSecretMode(hasSecret ? 'keep' : ep || chat.secretKind($('ep-kind').value) !== 'webhook' ? 'none' : 'generate');
    $('ep-secret').value = '';
    format.fill(ep);
    $('ep-custom-query').checked = !!(ep && ep.query);
    $('ep-query').value = ep && ep.query ? ep.query : format.defaultQuery();
    format.syncNote();
    syncQuery();
    fillRepoSelect($('preview-repository'), false, ep ? ep.repositoryId : null);
    const noRepos = state.repos.length === 0;
    show('preview-note', noRepos);
    $('preview-repository').disabled = noRepos; $('ep-preview').disabled = noRepos;
    setText('preview-output', ''); show('preview-output', false);
    show('endpoint-form', true);
    $('add-endpoint').setAttribute('aria-expanded', 'true');
    $('endpoint-form').scrollIntoView({ block: 'start' });
    (ep ? $(chat.isBroker(ep.kind) ? 'ep-broker' : 'ep-url') : $('ep-kind')).focus({ preventScroll: true });
  }

  function closeEditor(restoreFocus) {
    if ($('endpoint-form').hidden) return;
    show('endpoint-form', false);
    clearFormErrors();
    $('ep-secret').value = '';
    $('add-endpoint').setAttribute('aria-expanded', 'false');
    const opener = state.editorOpener;
    state.editingId = undefined;
    state.editorOpener = null;
    if (restoreFocus) (opener && opener.isConnected ? opener : $('add-endpoint')).focus();
  }

  /** Shows (or with an empty message clears) the error under one editor control. The control's
   *  aria-describedby lists the error element, which adds nothing while it is empty. */
  function fieldError(ctrlId, msg) {
    const e = $(`${ctrlId}-error`);
    showAlert(e.id, msg ? [e.textContent, msg].filter(Boolean).join(' ') : '');
    if (msg) $(ctrlId).setAttribute('aria-invalid', 'true'); else $(ctrlId).removeAttribute('aria-invalid');
  }
  function setFormError(messages) {
    $('ep-form-error').replaceChildren(...messages.map((m) => el('p', null, m)));
    show('ep-form-error', messages.length > 0);
  }
  function clearFormErrors() {
    Object.values(FIELD_CONTROLS).forEach((id) => fieldError(id, ''));
    setFormError([]);
  }
  function focusFirstError() {
    const first = [...document.querySelectorAll('#endpoint-form [aria-invalid="true"]')].find((c) => !c.closest('[hidden]'));
    if (first) first.focus(); else if (!$('ep-form-error').hidden) $('endpoint-form-title').focus();
  }

  /** Reads the editor into an endpoint input, or marks what is missing and returns null. */
  function readForm(ep) {
    const kind = $('ep-kind').value;
    const secretKind = chat.secretKind(kind);
    const url = $('ep-url').value.trim();
    const events = $('ep-events').value.split(',').map((s) => s.trim()).filter(Boolean);
    const mode = secretMode();
    const custom = $('ep-custom-query').checked;
    const query = $('ep-query').value;
    let ok = true;
    const fail = (id, msg) => { fieldError(id, msg); ok = false; };
    if (!url && !chat.isBroker(kind)) fail('ep-url', chat.isChat(kind) ? 'Enter the robot’s URL (from the robot’s settings in the group).' : 'Enter the URL that should receive the webhooks.');
    if (!events.length) fail('ep-events', 'Enter at least one event pattern, e.g. * for every event.');
    if (secretKind && mode === 'own' && !$('ep-secret').value) fail('ep-secret', 'Type your secret, or choose another option.');
    if (custom && !query.trim()) fail('ep-query', 'Enter a query, or untick “Use a custom payload query”.');
    const fields = chat.read(fail);
    if (!ok) return null;
    const input = {
      webhookURL: url, events, repositoryId: $('ep-repository').value || null,
      query: custom ? query : null, enabled: $('ep-enabled').checked, ...fields, ...format.read(),
    };
    if (ep) input.id = ep.id;
    if (!secretKind) input.secretToken = ''; // the robot's secret is its URL
    else if (mode === 'keep' && ep && ep.maskedSecretToken) input.secretToken = ep.maskedSecretToken;
    else if (mode === 'generate' && secretKind === 'webhook') input.generateSecret = true;
    else if (mode === 'own') input.secretToken = $('ep-secret').value;
    else input.secretToken = '';
    return input;
  }

  async function onSave(ev) {
    ev.preventDefault();
    if (state.saving || state.editingId === undefined) return;
    clearFormErrors();
    // Deleting the endpoint being edited closes the editor, so `ep` is found whenever editing.
    const ep = state.endpoints.find((e) => e.id === state.editingId) || null;
    const edited = readForm(ep);
    if (!edited) { focusFirstError(); return; }
    const list = state.endpoints.map(toInput);
    const index = ep ? state.endpoints.indexOf(ep) : list.length;
    list[index] = edited;
    state.saving = true;
    setBusy($('ep-save'), true);
    $('endpoint-form').setAttribute('aria-busy', 'true');
    announce('Saving…');
    try {
      const generated = await saveList(list);
      const savedId = state.endpoints[index] ? state.endpoints[index].id : null;
      closeEditor(false);
      announce(ep ? 'Endpoint saved.' : 'Endpoint added.');
      const focusEdit = () => (endpointButton(savedId, 'ep-edit') || $('add-endpoint')).focus();
      if (generated) revealSecret(generated, focusEdit); else focusEdit();
    } catch (err) {
      if (err.unauth) return;
      announce('Not saved: see the errors in the form.');
      const formLevel = [];
      for (const e of errList(err)) {
        const f = parseField(e);
        const ctrl = f && f.index === index ? FIELD_CONTROLS[f.name] : null;
        if (ctrl && !$(ctrl).closest('[hidden]')) fieldError(ctrl, stripField(e));
        else if (f && f.index !== index && list[f.index]) formLevel.push(`Another endpoint (${chat.targetName(list[f.index])}) is not valid: ${stripField(e)}`);
        else formLevel.push(stripField(e));
      }
      setFormError(formLevel);
      focusFirstError();
    } finally {
      state.saving = false;
      setBusy($('ep-save'), false);
      $('endpoint-form').removeAttribute('aria-busy');
    }
  }

  async function onPreview() {
    const btn = $('ep-preview');
    const out = $('preview-output');
    const repositoryId = $('preview-repository').value;
    if (!repositoryId || isBusy(btn)) return;
    const query = $('ep-custom-query').checked ? $('ep-query').value : format.previewQuery();
    const list = (msgs) => `Errors:\n${msgs.map((m) => `- ${m}`).join('\n')}`;
    setBusy(btn, true);
    out.hidden = false;
    out.classList.remove('has-errors');
    out.textContent = 'Rendering the payload…';
    try {
      const payloadFormat = format.chosen();
      const p = (await api(Q.preview, { repositoryId, query, payloadFormat })).webhookPreview || {};
      const errs = (p.errors || []).map((e) => (typeof e === 'string' ? e : (e && e.message) || JSON.stringify(e)));
      const body = p.body ? pretty(p.body) : ''; // empty when the query did not validate
      out.textContent = [body, errs.length ? list(errs) : ''].filter(Boolean).join('\n\n') || '(empty body)';
      out.classList.toggle('has-errors', errs.length > 0);
    } catch (err) {
      if (err.unauth) return;
      out.textContent = list(errList(err).map(stripField));
      out.classList.add('has-errors');
    } finally { setBusy(btn, false); }
  }

  // ---- generated secret, shown once -----------------------------------------------------------
  function revealSecret(generated, after) {
    state.afterSecret = after;
    setText('secret-endpoint', generated.url); setText('secret-copy-status', '');
    const input = $('secret-value');
    input.value = generated.secret;
    openDialog($('secret-reveal'), input);
    input.select();
  }

  async function copySecret() {
    const input = $('secret-value');
    if (!input.value) return;
    let ok = false;
    try { await navigator.clipboard.writeText(input.value); ok = true; } catch { ok = false; }
    if (!ok) { // no Clipboard API (or refused): select the text and copy the selection
      input.focus();
      input.select();
      try { ok = document.execCommand('copy'); } catch { ok = false; }
      $('secret-copy').focus();
    }
    setText('secret-copy-status', ok
      ? 'Copied to the clipboard.' : 'Copying failed: select the secret and press Ctrl+C (⌘C on a Mac).');
  }

  function onSecretClosed() {
    $('secret-value').value = ''; // the secret leaves the DOM here, for good
    setText('secret-copy-status', ''); setText('secret-endpoint', '');
    const after = state.afterSecret;
    state.afterSecret = null;
    if (after && state.token) after();
  }

  // ---- start --------------------------------------------------------------------------------
  function init() {
    const segments = window.location.pathname.split('/').filter(Boolean);
    try { state.uid = decodeURIComponent(segments[segments.length - 1] || ''); } catch { state.uid = ''; }
    if (!state.uid || segments.length < 2) {
      showSignin('This address names no organization: open /settings/<owner uid>.');
      $('signin-submit').disabled = true;
      return;
    }
    chat = window.buildhooksChat({
      $, el, api, pretty, state, isBusy, setBusy, errList, stripField, fieldError, setText,
      endpointItem, endpointButton, saveList, toInput,
    });
    inbound = window.buildhooksInbound({
      $, el, api, state, isBusy, setBusy, errList, stripField, fieldError, setText, show, showAlert, announce, timeEl,
    });
    format = window.buildhooksFormat({ $, el, isChat: chat.isChat, defaultQuery: DEFAULT_QUERY });
    deliveries = window.buildhooksDeliveries({
      $, el, api, state, isBusy, setBusy, show, setText, showAlert, announce, timeEl, badge, pretty, pair,
      openDialog, closeDialog, pollDelivery, ApiError,
    });
    $('ep-query').value = DEFAULT_QUERY;
    $('signin-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const token = $('token').value.trim();
      if (token) signIn(token, false);
      else { showSignin('Enter the API token of this organization.'); $('token').focus(); }
    });
    const clicks = {
      signout: () => signOut(''), 'add-endpoint': (e) => openEditor(null, e.currentTarget),
      'ep-cancel': () => closeEditor(true), 'ep-preview': onPreview, 'ep-chat-preview': () => chat.onChatPreview(),
      'secret-copy': copySecret, 'secret-done': () => closeDialog($('secret-reveal')),
    };
    for (const [id, fn] of Object.entries(clicks)) $(id).addEventListener('click', fn);
    $('endpoint-form').addEventListener('submit', onSave);
    $('build-url-form').addEventListener('submit', (e) => chat.onSaveBuildUrl(e));
    $('build-url-template').addEventListener('input', () => fieldError('build-url-template', ''));
    $('ep-kind').addEventListener('change', () => {
      chat.changeKind(state.endpoints.find((e) => e.id === state.editingId) || null);
      format.sync();
      if (!chat.secretKind($('ep-kind').value)) fieldError('ep-secret', '');
    });
    $('ep-custom-query').addEventListener('change', syncQuery);
    $('ep-secret').addEventListener('input', () => { if ($('ep-secret').value) setSecretMode('own'); });
    for (const id of Object.values(FIELD_CONTROLS)) {
      $(id).addEventListener($(id).matches('select, [type="checkbox"]') ? 'change' : 'input', () => fieldError(id, ''));
    }
    document.querySelectorAll('input[name="ep-secret-mode"]').forEach((r) => r.addEventListener('change', () => fieldError('ep-secret', '')));
    wireDialog($('secret-reveal'), onSecretClosed);
    wireDialog($('delivery-detail'), () => deliveries.onDetailClosed());

    let saved = null;
    try { saved = sessionStorage.getItem(TOKEN_KEY); } catch { saved = null; }
    if (saved) { $('signin').hidden = true; signIn(saved, true); } else showSignin('');
  }

  init();
})();
