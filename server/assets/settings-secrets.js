/*
 * buildhooks settings page, secret rotation (GET /settings/assets/settings-secrets.js).
 * Owns what the endpoint list says about a secret rotation (`rotateWebhookSecret`): while the
 * previous secret still signs beside the new one, the endpoint's card gets a "Previous secret"
 * line with the time the overlap ends (`secretOverlapEndsAt`, ms since the epoch), and the line
 * goes when that time passes. It watches the list settings.js renders (each card carries its
 * endpoint's id in data-id) and asks POST /graphql with the signed-in token, which settings.js
 * keeps in sessionStorage. Server strings reach the DOM through textContent only.
 */
(() => {
  'use strict';

  const TOKEN_KEY = 'buildhooks.token';
  const QUERY = 'query($uid: ID){ ownerInfo(uid: $uid) { webhookSettings { endpoints { id secretOverlapEndsAt } } } }';
  let timer = null;

  function ownerUid() {
    const segments = window.location.pathname.split('/').filter(Boolean);
    try { return decodeURIComponent(segments[segments.length - 1] || ''); } catch { return ''; }
  }

  async function overlaps() {
    let token = null;
    try { token = sessionStorage.getItem(TOKEN_KEY); } catch { token = null; }
    if (!token) return new Map();
    const res = await fetch('/graphql', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', Authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: QUERY, variables: { uid: ownerUid() } }),
      cache: 'no-store', credentials: 'same-origin', referrerPolicy: 'no-referrer',
    });
    const body = await res.json();
    const endpoints = (((body || {}).data || {}).ownerInfo || {}).webhookSettings;
    const found = new Map();
    for (const ep of (endpoints && endpoints.endpoints) || []) {
      if (ep.secretOverlapEndsAt != null) found.set(String(ep.id), Number(ep.secretOverlapEndsAt));
    }
    return found;
  }

  function line(endsAt) {
    const when = new Date(endsAt);
    const time = document.createElement('time');
    time.dateTime = when.toISOString();
    time.textContent = when.toLocaleString();
    const dd = document.createElement('dd');
    dd.append('still signs until ', time);
    const dt = document.createElement('dt');
    dt.textContent = 'Previous secret';
    const div = document.createElement('div');
    div.className = 'secret-overlap';
    div.append(dt, dd);
    return div;
  }

  /** Marks each card of an endpoint whose rotation still overlaps; unmarks the others. */
  async function mark(list) {
    let found;
    try { found = await overlaps(); } catch { return; /* the list itself reports API errors */ }
    const now = Date.now();
    let next = Infinity;
    for (const card of list.querySelectorAll('li[data-id]')) {
      const old = card.querySelector('.secret-overlap');
      if (old) old.remove();
      const endsAt = found.get(card.dataset.id);
      const meta = card.querySelector('dl.meta');
      if (endsAt == null || endsAt <= now || !meta) continue;
      meta.append(line(endsAt));
      next = Math.min(next, endsAt);
    }
    clearTimeout(timer);
    if (next !== Infinity) timer = setTimeout(() => mark(list), Math.min(next - now + 50, 2147483647));
  }

  function start() {
    const list = document.getElementById('endpoint-list');
    if (!list) return;
    // The cards are rebuilt on each load and save: mark them again (our own lines go inside
    // the cards, which this observer does not watch).
    new MutationObserver(() => mark(list)).observe(list, { childList: true });
    if (list.children.length) mark(list);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
