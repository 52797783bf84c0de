/*
 * buildhooks settings page, deliveries (GET /settings/assets/settings-deliveries.js).
 * Owns the deliveries section and the delivery-detail dialog: the table (time, event as
 * kind.action, build and task, old -> new status, endpoint, HTTP status, latency, state,
 * details), its filters (endpoint, state, event: `webhookDeliveries(endpointId, state, event)`),
 * Older/Newer paging by cursor (a page is `last: PAGE` before the shown page's first cursor, or
 * `first: PAGE` after its last), and the detail: the request's headers and body, each attempt's
 * result with the answer's headers and the start of its body, and redelivery.
 * settings.js binds it with its helpers (window.buildhooksDeliveries) and calls load() after
 * sign-in and a ping, reset() at sign-out. Server strings reach the DOM through textContent only.
 */
(() => {
  'use strict';

  const PAGE = 20;
  const ACTIVE = new Set(['PENDING', 'IN_FLIGHT']);
  const NODE = 'id timestamp state webhookURL endpointId attemptCount responseStatus latencyMs buildId taskId oldStatus newStatus payload { event action }';
  const Q_PAGE = `query($uid: ID, $first: Int, $after: String, $last: Int, $before: String, $endpointId: ID, $state: [String!], $event: String){
    ownerInfo(uid: $uid) { webhookDeliveries(first: $first, after: $after, last: $last, before: $before, endpointId: $endpointId, state: $state, event: $event) {
      edges { cursor node { ${NODE} } } pageInfo { hasPreviousPage hasNextPage startCursor endCursor } } } }`;
  const Q_DETAIL = `query($id: String!){ webhookDelivery(id: $id) { ${NODE} payload { data }
    requestHeaders { name value } attempts { number at durationMs status error responseExcerpt responseHeaders { name value } } } }`;
  const Q_REDELIVER = 'mutation($input: WebhookRedeliverInput!){ webhookRedeliver(input: $input) { delivery { id state } } }';

  window.buildhooksDeliveries = (ctx) => {
    const { $, el, api, state, isBusy, setBusy, show, setText, showAlert, announce, timeEl, badge, pretty, pair,
      openDialog, closeDialog, pollDelivery, ApiError } = ctx;
    // The shown page: its cursors and whether more lie on each side.
    let page = { start: null, end: null, older: false, newer: false };
    let rowSeq = 0;
    // Each load's number: a filter changed while a page loads starts another load, and only the
    // latest one's answer is shown.
    let loadSeq = 0;

    // ---- filters ----------------------------------------------------------------------------
    function filters() {
      const endpointId = $('df-endpoint').value || null;
      const st = $('df-state').value;
      const event = $('df-event').value.trim();
      return { endpointId, state: st ? [st] : null, event: event || null };
    }

    /** The endpoint select, from the endpoints settings.js loaded (kept choice if still there). */
    function syncEndpoints() {
      const select = $('df-endpoint');
      const chosen = select.value;
      const options = (state.endpoints || []).map((e) => el('option', { value: e.id },
        `${e.webhookURL || e.broker || e.kind} (${String(e.kind || '').toLowerCase()})`));
      select.replaceChildren(el('option', { value: '' }, 'All endpoints'), ...options);
      if ([...select.options].some((o) => o.value === chosen)) select.value = chosen;
    }

    // ---- the table ----------------------------------------------------------------------------
    const cell = (label, props, ...kids) => el('td', { ...(props || {}), 'data-label': label }, ...kids);
    const dash = () => el('span', { class: 'muted' }, '—');

    function change(d) {
      if (!d.newStatus) return dash();
      return el('span', { class: 'change' }, d.oldStatus ? `${d.oldStatus} → ${d.newStatus}` : `→ ${d.newStatus}`);
    }
    function subject(d) {
      const parts = [];
      if (d.buildId) parts.push(el('span', { class: 'ref' }, `build ${d.buildId}`));
      if (d.taskId) parts.push(el('span', { class: 'ref' }, `task ${d.taskId}`));
      return parts.length ? parts : dash();
    }
    /** The time on one line and the date below it (the date shown first on phones). */
    function when(ms) {
      const d = new Date(Number(ms));
      if (ms == null || Number.isNaN(d.getTime())) return timeEl(ms);
      return el('time', { datetime: d.toISOString(), title: d.toLocaleString() },
        el('span', { class: 'when-date' }, d.toLocaleDateString()), d.toLocaleTimeString());
    }
    /** `kind.action` (`task.updated`, `build.fixed`); a test message is just `ping`. */
    const eventName = (p) => (p.event === p.action ? p.event : [p.event, p.action].filter(Boolean).join('.'));
    const http = (d) => (d.responseStatus ? String(d.responseStatus) : dash());
    const latency = (d) => (d.latencyMs != null ? `${d.latencyMs} ms` : dash());

    function row(d) {
      const timeId = `delivery-row-${++rowSeq}`;
      const payload = d.payload || {};
      return el('tr', { dataset: { id: d.id } },
        cell('Time', { class: 'nowrap time-cell', id: timeId }, when(d.timestamp)),
        cell('Event', { class: 'event-cell mono' }, eventName(payload)),
        cell('Build / task', { class: 'subject-cell' }, subject(d)),
        cell('Status', { class: 'change-cell' }, change(d)),
        cell('Endpoint', { class: 'url endpoint-cell' }, d.webhookURL),
        cell('HTTP', { class: 'num http-cell' }, http(d)),
        cell('Latency', { class: 'num nowrap latency-cell' }, latency(d)),
        cell('State', { class: 'state-cell' }, badge(d.state)),
        cell('', { class: 'details-cell' }, el('button', {
          type: 'button', class: 'btn small delivery-details', 'aria-describedby': timeId,
          onclick: (e) => openDelivery(d.id, e.currentTarget),
        }, 'Details')));
    }
    const rowOf = (id) => [...$('deliveries-body').children].find((r) => r.dataset.id === String(id));

    /** Loads a page: the newest (`where` null), older than the shown one, or newer. */
    async function load(where) {
      const btn = where === 'older' ? $('deliveries-older') : where === 'newer' ? $('deliveries-newer') : $('deliveries-refresh');
      if (where && isBusy(btn)) return;
      const seq = ++loadSeq;
      setBusy(btn, true);
      showAlert('df-error', '');
      $('df-event').removeAttribute('aria-invalid');
      const vars = { uid: state.uid, ...filters() };
      if (where === 'older') Object.assign(vars, { last: PAGE, before: page.start });
      else if (where === 'newer') Object.assign(vars, { first: PAGE, after: page.end });
      else vars.last = PAGE;
      try {
        const conn = (await api(Q_PAGE, vars)).ownerInfo.webhookDeliveries;
        if (seq !== loadSeq) return;
        const edges = conn.edges || [];
        // A page comes oldest first; the table shows the newest on top.
        $('deliveries-body').replaceChildren(...edges.map((e) => row(e.node)).reverse());
        const info = conn.pageInfo;
        page = {
          start: info.startCursor, end: info.endCursor,
          older: where === 'newer' ? true : info.hasPreviousPage,
          newer: where === 'newer' ? info.hasNextPage : where === 'older' ? true : info.hasNextPage,
        };
        // An empty page past the edge: the shown rows are gone, keep the cursors of the request.
        if (!edges.length && where) page = { start: vars.before || null, end: vars.after || null, older: where === 'newer', newer: where === 'older' };
        $('deliveries-older').hidden = !page.older;
        $('deliveries-newer').hidden = !page.newer;
        const n = edges.length;
        const filtered = Object.values(filters()).some((v) => v != null);
        show('deliveries-empty', n === 0); show('deliveries-wrap', n > 0);
        setText('deliveries-empty', filtered ? 'No delivery matches these filters.' : 'No deliveries yet.');
        setText('deliveries-range', n ? `${n} ${n === 1 ? 'delivery' : 'deliveries'}${filtered ? ' matching the filters' : ''}, newest first` : '');
        if (where) {
          announce(`Loaded ${n} ${where} deliveries.`);
          if (btn.hidden) $('deliveries-refresh').focus();
        } else if (btn === document.activeElement || document.activeElement === $('df-apply')) announce(`Deliveries loaded: ${n}.`);
      } catch (err) {
        if (err.unauth || seq !== loadSeq) return;
        const field = (err.errors || []).map((e) => e.extensions && e.extensions.field).find(Boolean);
        if (field === 'event') $('df-event').setAttribute('aria-invalid', 'true');
        showAlert('df-error', `Could not load the deliveries: ${err.message}`);
      } finally {
        if (seq === loadSeq) for (const id of ['deliveries-refresh', 'deliveries-older', 'deliveries-newer']) setBusy($(id), false);
      }
    }

    // ---- the detail ---------------------------------------------------------------------------
    function headerList(pairs, cls) {
      return el('dl', { class: `headers ${cls}` }, ...(pairs || []).flatMap((h) => [
        el('dt', null, `${h.name}:`), el('dd', { class: 'mono' }, h.value)]));
    }

    function attemptItem(a) {
      // A robot's error code fails a 200; a broker's attempt has no HTTP status.
      const ok = !a.error && (!a.status || (a.status >= 200 && a.status < 300));
      const result = a.status ? `HTTP ${a.status}${a.error ? ` (${a.error})` : ''}` : a.error || 'acknowledged';
      const headId = `attempt-${a.number}-${++rowSeq}`;
      return el('li', { class: 'attempt-row', 'aria-labelledby': headId },
        el('p', { class: 'attempt-head', id: headId },
          el('strong', null, `Attempt ${a.number}`), ' · ', timeEl(a.at), ' · ',
          el('span', { class: `result ${ok ? 'ok' : 'error'}` }, result), ' · ', `${a.durationMs} ms`),
        el('h4', null, 'Response headers'),
        a.responseHeaders && a.responseHeaders.length ? headerList(a.responseHeaders, 'response-headers') : el('p', { class: 'empty' }, 'None received.'),
        el('h4', null, 'Response body (start)'),
        a.responseExcerpt ? el('pre', { class: 'excerpt code-light', tabindex: '0' }, a.responseExcerpt) : el('p', { class: 'empty' }, 'Empty.'));
    }

    function renderDetail(d) {
      state.detail = d;
      const payload = d.payload || {};
      setText('delivery-detail-title', `Delivery ${d.id}`);
      $('delivery-summary').replaceChildren(
        pair('Time', timeEl(d.timestamp)),
        pair('Event', eventName(payload)),
        pair('Build / task', subject(d)),
        pair('Status', change(d)),
        pair('Endpoint', el('span', { class: 'url' }, d.webhookURL)),
        pair('State', el('span', { id: 'delivery-state' }, badge(d.state))),
        pair('HTTP', http(d)),
        pair('Latency', latency(d)),
        pair('Attempts', String(d.attemptCount)));
      $('delivery-headers').replaceChildren(...headerList(d.requestHeaders, '').childNodes);
      setText('delivery-body', pretty(payload.data));
      const attempts = d.attempts || [];
      $('delivery-attempts').replaceChildren(...attempts.map(attemptItem));
      show('delivery-no-attempts', !attempts.length); show('delivery-attempts', attempts.length > 0);
      show('delivery-content', true);
      const tr = rowOf(d.id); // keep the table's row in step
      if (tr) {
        tr.querySelector('.state-cell').replaceChildren(badge(d.state));
        tr.querySelector('.http-cell').replaceChildren(http(d));
        tr.querySelector('.latency-cell').replaceChildren(latency(d));
      }
    }

    async function openDelivery(id, opener) {
      state.pollGen++;
      Object.assign(state, { detailId: id, detail: null, detailOpener: opener });
      setText('delivery-detail-title', 'Delivery'); setText('delivery-poll-status', '');
      showAlert('delivery-detail-error', '');
      show('delivery-content', false); show('delivery-loading', true);
      setBusy($('delivery-redeliver'), false);
      const dlg = $('delivery-detail');
      dlg.setAttribute('aria-busy', 'true');
      openDialog(dlg, $('delivery-detail-title'));
      try {
        const d = (await api(Q_DETAIL, { id })).webhookDelivery;
        if (state.detailId !== id) return;
        if (!d) throw new ApiError('This delivery no longer exists.', [], 200);
        renderDetail(d);
      } catch (err) {
        if (!err.unauth && state.detailId === id) showAlert('delivery-detail-error', `Could not load the delivery: ${err.message}`);
      } finally {
        if (state.detailId === id) { show('delivery-loading', false); dlg.removeAttribute('aria-busy'); }
      }
    }

    async function redeliver() {
      const btn = $('delivery-redeliver');
      const id = state.detailId;
      if (!id || isBusy(btn)) return;
      const gen = ++state.pollGen;
      const before = state.detail ? state.detail.attemptCount : 0;
      const status = $('delivery-poll-status');
      setBusy(btn, true);
      status.textContent = 'Redelivering…';
      showAlert('delivery-detail-error', '');
      try {
        await api(Q_REDELIVER, { input: { deliveryId: id } });
        const d = await pollDelivery(Q_DETAIL, id, () => gen !== state.pollGen,
          (x) => x.attemptCount > before && !ACTIVE.has(x.state), renderDetail);
        if (gen !== state.pollGen) return;
        status.textContent = d ? `Redelivered: ${d.state.toLowerCase()}.`
          : 'Still in progress after 20 s. Close and reopen this delivery to check again.';
      } catch (err) {
        if (err.unauth || gen !== state.pollGen) return;
        status.textContent = '';
        showAlert('delivery-detail-error', `Could not redeliver: ${err.message}`);
      } finally { if (gen === state.pollGen) setBusy(btn, false); }
    }

    function onDetailClosed() {
      state.pollGen++; // stops any polling
      const opener = state.detailOpener;
      const tr = opener && opener.isConnected ? null : rowOf(state.detailId);
      Object.assign(state, { detailId: null, detail: null, detailOpener: null });
      if (!state.token) return;
      if (opener && opener.isConnected) opener.focus();
      else ((tr && tr.querySelector('button')) || $('deliveries-refresh')).focus();
    }

    function reset() {
      page = { start: null, end: null, older: false, newer: false };
      $('deliveries-body').replaceChildren();
      $('deliveries-filter').reset();
      showAlert('df-error', '');
      $('deliveries-older').hidden = true; $('deliveries-newer').hidden = true;
      setText('deliveries-range', '');
    }

    $('deliveries-filter').addEventListener('submit', (e) => { e.preventDefault(); load(null); });
    $('df-clear').addEventListener('click', () => { $('deliveries-filter').reset(); load(null); });
    for (const id of ['df-endpoint', 'df-state']) $(id).addEventListener('change', () => load(null));
    $('deliveries-refresh').addEventListener('click', () => load(null));
    $('deliveries-older').addEventListener('click', () => load('older'));
    $('deliveries-newer').addEventListener('click', () => load('newer'));
    $('delivery-close').addEventListener('click', () => closeDialog($('delivery-detail')));
    $('delivery-redeliver').addEventListener('click', redeliver);

    return { load: () => load(null), syncEndpoints, reset, onDetailClosed };
  };
})();
