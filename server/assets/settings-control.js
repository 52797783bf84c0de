/*
 * buildhooks settings page, endpoint control (GET /settings/assets/settings-control.js).
 * Owns what the page shows of an endpoint's health (issue 19): why and when buildhooks disabled
 * it (`disabledReason`, `disabledAt`: a receiver that answered 410 Gone, or deliveries that all
 * failed for days), since when its deliveries fail (`failingSince`), and the way back:
 * "Re-enable" (and the list's own Enable button, for such an endpoint) calls
 * enableWebhookEndpoint, which sends a test message first and refuses (TEST_MESSAGE_FAILED,
 * shown with the receiver's status or error) unless it succeeds.
 * Works beside settings.js without touching it: it watches the endpoint list, reads the health
 * fields with the token settings.js keeps in sessionStorage, and adds a note to each endpoint
 * item. Server strings reach the DOM through textContent only.
 */
(() => {
  'use strict';

  const TOKEN_KEY = 'buildhooks.token';
  const FIELDS = 'id enabled disabledReason disabledAt failingSince failedDeliveries';
  const Q_HEALTH = `query($uid: ID){ ownerInfo(uid: $uid) { webhookSettings { endpoints { ${FIELDS} } } } }`;
  const Q_ENABLE = 'mutation($input: EnableWebhookEndpointInput!){ enableWebhookEndpoint(input: $input) { endpoint { id enabled } testDelivery { id state } } }';

  let health = new Map();
  let loading = null;

  const token = () => { try { return sessionStorage.getItem(TOKEN_KEY); } catch { return null; } };
  const ownerUid = () => decodeURIComponent(location.pathname.split('/').filter(Boolean).pop() || '');
  const when = (ms) => new Date(Number(ms)).toLocaleString();

  /** POST /graphql: resolves to { data, errors } (never throws for GraphQL errors). */
  async function gql(query, variables) {
    const t = token();
    if (!t) return { data: null, errors: [{ message: 'Sign in first.' }] };
    try {
      const res = await fetch('/graphql', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json', Authorization: `Bearer ${t}` },
        body: JSON.stringify({ query, variables }),
        cache: 'no-store', credentials: 'same-origin', referrerPolicy: 'no-referrer',
      });
      const body = await res.json().catch(() => null);
      return { data: body && body.data, errors: (body && body.errors) || (res.ok ? [] : [{ message: `HTTP ${res.status}` }]) };
    } catch {
      return { data: null, errors: [{ message: 'Could not reach the server.' }] };
    }
  }

  const item = (id) => [...document.querySelectorAll('#endpoint-list > li')].find((li) => li.dataset.id === String(id));
  const held = (h) => !!(h && !h.enabled && h.disabledReason);

  function node(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    for (const c of children) if (c != null) e.append(typeof c === 'string' ? document.createTextNode(c) : c);
    return e;
  }

  /** The note of one endpoint item: why it is disabled (with Re-enable), or since when it fails. */
  function note(h) {
    if (held(h)) {
      const result = node('span', { class: 'status control-result', role: 'status', 'aria-live': 'polite' });
      const button = node('button', { type: 'button', class: 'btn small primary ep-reenable' }, 'Re-enable');
      button.addEventListener('click', () => reenable(h.id, button, result));
      return node('div', { class: 'alert warn control-note', 'data-control': 'disabled' },
        node('p', { class: 'control-reason' },
          `Disabled by buildhooks on ${when(h.disabledAt)}: ${h.disabledReason}.`),
        node('p', { class: 'help' }, 'Re-enabling sends a test message first; the endpoint stays disabled unless it succeeds. Deliveries that failed meanwhile can be redelivered.'),
        node('div', { class: 'form-actions' }, button, result));
    }
    if (h && h.failingSince != null) {
      return node('p', { class: 'help control-note', 'data-control': 'failing' },
        `Failing since ${when(h.failingSince)} (${h.failedDeliveries} deliveries failed in a row).`);
    }
    return null;
  }

  function decorate() {
    for (const li of document.querySelectorAll('#endpoint-list > li')) {
      for (const old of li.querySelectorAll('.control-note')) old.remove();
      const n = note(health.get(li.dataset.id));
      if (n) li.append(n);
    }
  }

  async function refresh() {
    if (!token()) return;
    if (loading) return loading;
    loading = (async () => {
      const { data } = await gql(Q_HEALTH, { uid: ownerUid() });
      const endpoints = (data && data.ownerInfo && data.ownerInfo.webhookSettings && data.ownerInfo.webhookSettings.endpoints) || [];
      health = new Map(endpoints.map((e) => [String(e.id), e]));
      decorate();
    })();
    try { await loading; } finally { loading = null; }
  }

  async function reenable(id, button, result) {
    button.disabled = true;
    result.textContent = 'Sending a test message…';
    const { data, errors } = await gql(Q_ENABLE, { input: { endpointId: String(id) } });
    if (errors.length || !data) {
      const e = errors[0] || {};
      const code = (e.extensions && e.extensions.code) || '';
      result.textContent = code === 'TEST_MESSAGE_FAILED'
        ? `Not re-enabled: ${e.message}`
        : `Could not re-enable: ${e.message || 'unknown error'}`;
      result.dataset.outcome = 'refused';
      button.disabled = false;
      return;
    }
    result.textContent = 'Test message delivered: re-enabled.';
    result.dataset.outcome = 'enabled';
    // settings.js holds the list it saves back: load the page again so it reads the endpoint
    // enabled (the token stays in sessionStorage).
    setTimeout(() => location.reload(), 800);
  }

  function start() {
    const list = document.getElementById('endpoint-list');
    if (!list) return;
    new MutationObserver(() => { refresh(); }).observe(list, { childList: true });
    // The list's Enable button on an endpoint buildhooks disabled: re-enable with a test message
    // instead of a save (which keeps such an endpoint disabled).
    document.addEventListener('click', (e) => {
      const toggle = e.target instanceof Element ? e.target.closest('.ep-toggle') : null;
      const li = toggle && toggle.closest('#endpoint-list > li');
      const h = li && health.get(li.dataset.id);
      if (!held(h)) return;
      e.preventDefault();
      e.stopImmediatePropagation();
      const n = li.querySelector('.control-note');
      const button = n && n.querySelector('.ep-reenable');
      if (button) button.click();
    }, true);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
