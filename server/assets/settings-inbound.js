/*
 * buildhooks settings page, inbound CI sources (GET /settings/assets/settings-inbound.js).
 * Owns the "Inbound sources" section: the organization's sources (ownerInfo.inboundSources,
 * secrets only as their hint), the editor that creates one (GitHub, GitLab with an optional
 * signing secret, or any JSON sender with its JSONPath mapping and status-word table), the
 * secret shown once after createInboundSource / regenerateInboundSecret (kept only in the
 * reveal's inputs, emptied when it closes; never logged or stored), deleteInboundSource, and
 * the inbound log (ownerInfo.inboundRequests). Loaded before settings.js, which calls
 * window.buildhooksInbound(page) once at start with the helpers and state it shares, then
 * load() after sign-in and reset() at sign-out; server strings reach the DOM through
 * textContent only.
 */
(() => {
  'use strict';

  const SOURCE_FIELDS = 'id kind name url secretHint hasSigningSecret repositoryId';
  const Q = {
    sources: `query($uid: ID){ ownerInfo(uid: $uid) { inboundSources { ${SOURCE_FIELDS} } } }`,
    log: 'query($uid: ID){ ownerInfo(uid: $uid) { inboundRequests(last: 50) { receivedTimestamp sourceId event deliveryId result reason httpStatus buildId } } }',
    create: `mutation($input: CreateInboundSourceInput!){ createInboundSource(input: $input) { secret signingSecret source { ${SOURCE_FIELDS} } } }`,
    regenerate: `mutation($sourceId: ID!){ regenerateInboundSecret(input: { sourceId: $sourceId }) { secret signingSecret source { ${SOURCE_FIELDS} } } }`,
    remove: 'mutation($sourceId: ID!){ deleteInboundSource(input: { sourceId: $sourceId }) { deletedSourceId } }',
  };

  /** Per kind: the list's label, what the secret is called, and where it goes at the sender. */
  const KINDS = {
    // GitHub: https://docs.github.com/en/webhooks/using-webhooks/creating-webhooks
    GITHUB: {
      label: 'GitHub', secretLabel: 'Webhook secret', name: 'GitHub: acme/rocket',
      about: 'GitHub Actions workflow runs become builds and their jobs tasks; requests are checked with X-Hub-Signature-256.',
      secretHelp: 'In GitHub: Settings → Webhooks → Add webhook. Payload URL: the URL above; Content type: application/json; Secret: this secret; events: “Workflow runs” and “Workflow jobs”.',
    },
    // GitLab: https://docs.gitlab.com/user/project/integrations/webhooks/
    GITLAB: {
      label: 'GitLab', secretLabel: 'Secret token', name: 'GitLab: acme/rocket',
      about: 'GitLab CI pipelines become builds and their jobs tasks; requests are checked with X-Gitlab-Token.',
      secretHelp: 'In GitLab: Settings → Webhooks → Add new webhook. URL: the URL above; Secret token: this token; triggers: “Pipeline events” and “Job events”.',
    },
    GENERIC: {
      label: 'JSON', secretLabel: 'Token', name: 'Nightly builds',
      about: 'Any sender of JSON: the mapping below says where the build’s id, status and other values are in its body.',
      secretHelp: 'Send it with each POST as “Authorization: Bearer <token>” (or as ?token=<token> on the URL), with Content-Type: application/json; an Idempotency-Key header makes redeliveries harmless.',
    },
  };
  const kindOf = (kind) => KINDS[kind] || KINDS.GENERIC;

  /** The generic mapping's JSONPath fields: [input key, control id, label, placeholder, note, help]. */
  const PATHS = [
    ['externalId', 'in-external-id', 'Build id path', '$.id', null, null],
    ['status', 'in-status', 'Status path', '$.status', null, null],
    ['repository', 'in-map-repository', 'Repository name path', '$.repository', 'needed without a repository above', null],
    ['branch', 'in-branch', 'Branch path', '$.branch', 'optional; “main” when absent', null],
    ['commit', 'in-commit', 'Commit path', '$.sha', 'optional', null],
    ['title', 'in-title', 'Title path', '$.message', 'optional', null],
    ['eventTime', 'in-event-time', 'Event time path', '$.timestamp', 'optional',
      'Milliseconds or seconds since 1970, or an RFC 3339 time.'],
  ];
  const BUILD_STATUSES = ['CREATED', 'NEEDS_APPROVAL', 'TRIGGERED', 'EXECUTING', 'COMPLETED', 'FAILED', 'ABORTED', 'ERRORED'];
  const DEFAULT_WORDS = [['queued', 'TRIGGERED'], ['running', 'EXECUTING'], ['success', 'COMPLETED'], ['failure', 'FAILED']];
  // Last segment of a VALIDATION error's extensions.field -> the editor control showing it.
  const CONTROLS = {
    kind: 'in-kind', name: 'in-name', repositoryId: 'in-repository', signingSecret: 'in-signing',
    ...Object.fromEntries(PATHS.map(([key, id]) => [key, id])),
  };
  const ALL_CONTROLS = [...new Set([...Object.values(CONTROLS), 'in-words'])];

  window.buildhooksInbound = (page) => {
    const { $, el, api, state, isBusy, setBusy, fieldError, setText, show, showAlert, announce } = page;
    const local = { sources: [], saving: false, opener: null, revealedId: null };

    const pair = (k, v) => el('div', null, el('dt', null, k), el('dd', null, v));
    /** The URL a sender needs: the server gives a path unless BUILDHOOKS_PUBLIC_URL is set. */
    const absolute = (url) => (String(url || '').startsWith('/') ? window.location.origin + url : String(url || ''));
    const messages = (err) => page.errList(err).map(named);
    const sourceItem = (id) => [...$('in-list').children].find((li) => li.dataset.id === String(id));
    const sourceButton = (id, cls) => { const li = sourceItem(id); return li ? li.querySelector(`.${cls}`) : null; };

    function repoName(id) {
      const r = state.repos.find((x) => String(x.id) === String(id));
      return r ? r.name : `Repository ${id}`;
    }

    // ---- sources list -----------------------------------------------------------------------
    async function loadSources() {
      try {
        const data = await api(Q.sources, { uid: state.uid });
        local.sources = (data.ownerInfo && data.ownerInfo.inboundSources) || [];
        renderSources();
      } catch (err) {
        if (!err.unauth) showAlert('in-error', `Could not load the inbound sources: ${err.message}`);
      }
    }

    function renderSources() {
      show('in-empty', local.sources.length === 0);
      $('in-list').replaceChildren(...local.sources.map((s, i) => {
        const nameId = `in-source-${i}-name`;
        const k = kindOf(s.kind);
        const action = (text, cls, handler) => el('button', {
          type: 'button', class: `btn small ${cls}`, 'aria-describedby': nameId, onclick: handler,
        }, text);
        return el('li', { class: 'endpoint card in-source', id: `in-source-${i}`, dataset: { id: s.id, kind: s.kind } },
          el('div', { class: 'endpoint-head' },
            el('span', { class: 'in-name', id: nameId }, s.name),
            el('span', { class: 'badges' }, el('span', { class: 'badge kind' }, k.label))),
          el('dl', { class: 'meta' },
            pair('URL', el('span', { class: 'url in-url' }, absolute(s.url))),
            pair(k.secretLabel, el('code', { class: 'mask in-hint' }, s.secretHint)),
            s.kind === 'GITLAB' ? pair('Signing secret', s.hasSigningSecret ? 'Yes' : 'No') : null,
            pair('Repository', s.repositoryId != null ? repoName(s.repositoryId) : 'Named in each payload')),
          el('div', { class: 'actions' },
            action('Copy URL', 'in-copy-url', () => copyText(absolute(s.url), (ok) => announce(ok
              ? `The URL of ${s.name} is in the clipboard.` : 'Copying failed: select the URL and copy it.'))),
            action('Regenerate secret', 'in-regenerate', (e) => regenerate(s.id, e.currentTarget)),
            action('Delete', 'danger in-delete', (e) => remove(s.id, e.currentTarget))));
      }));
    }

    // ---- the secret, shown once -------------------------------------------------------------
    function reveal(payload, title) {
      const s = payload.source;
      const k = kindOf(s.kind);
      local.revealedId = s.id;
      setText('in-reveal-title', title);
      $('in-reveal-url').value = absolute(s.url);
      setText('in-reveal-secret-label', k.secretLabel);
      $('in-reveal-secret').value = payload.secret || '';
      setText('in-reveal-secret-help', k.secretHelp);
      $('in-reveal-signing').value = payload.signingSecret || '';
      show('in-reveal-signing-wrap', !!payload.signingSecret);
      setText('in-copy-status', '');
      show('in-reveal', true);
      $('in-reveal').scrollIntoView({ block: 'start' });
      $('in-reveal-title').focus({ preventScroll: true });
    }

    function hideReveal(restoreFocus) {
      // The secrets leave the DOM here, for good.
      ['in-reveal-url', 'in-reveal-secret', 'in-reveal-signing'].forEach((id) => { $(id).value = ''; });
      setText('in-copy-status', '');
      const id = local.revealedId;
      local.revealedId = null;
      if ($('in-reveal').hidden) return;
      show('in-reveal', false);
      if (restoreFocus) (sourceButton(id, 'in-regenerate') || $('in-add')).focus();
    }

    /** Copies `text`; without the Clipboard API (or when refused) through a selection. */
    async function copyText(text, done) {
      let ok = false;
      try { await navigator.clipboard.writeText(text); ok = true; } catch { ok = false; }
      if (!ok) {
        const back = document.activeElement;
        const area = el('textarea', { readonly: true, class: 'visually-hidden', 'aria-hidden': 'true' });
        area.value = text;
        document.body.append(area);
        area.select();
        try { ok = document.execCommand('copy'); } catch { ok = false; }
        area.remove();
        if (back && back.focus) back.focus();
      }
      done(ok);
    }

    function copyRevealed(inputId, what) {
      const value = $(inputId).value;
      if (!value) return;
      copyText(value, (ok) => setText('in-copy-status', ok
        ? `${what} copied to the clipboard.` : `Copying failed: select the ${what.toLowerCase()} and press Ctrl+C (⌘C on a Mac).`));
    }

    // ---- editor -----------------------------------------------------------------------------
    function pathField([key, id, label, placeholder, note, help]) {
      return el('div', { class: 'field' },
        el('label', { for: id }, label, note ? ' ' : null, note ? el('span', { class: 'optional' }, `(${note})`) : null),
        el('input', {
          id, name: key, type: 'text', class: 'mono', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off',
          placeholder, 'aria-describedby': [`${id}-error`, help ? `${id}-help` : null].filter(Boolean).join(' '),
        }),
        el('p', { id: `${id}-error`, class: 'field-error', role: 'alert', hidden: true }),
        help ? el('p', { id: `${id}-help`, class: 'help' }, help) : null);
    }

    let wordSeq = 0;
    function wordRow(word, status) {
      const n = ++wordSeq;
      const li = el('li', { class: 'word-row' },
        el('div', { class: 'subfield' },
          el('label', { for: `in-word-${n}` }, 'Sender’s word'),
          el('input', {
            id: `in-word-${n}`, class: 'in-word mono', type: 'text', value: word, autocomplete: 'off',
            spellcheck: 'false', autocapitalize: 'off', 'aria-describedby': 'in-words-error',
          })),
        el('div', { class: 'subfield' },
          el('label', { for: `in-word-status-${n}` }, 'Build status'),
          el('select', { id: `in-word-status-${n}`, class: 'in-word-status' },
            BUILD_STATUSES.map((s) => el('option', { value: s, selected: s === status }, s.toLowerCase().replace('_', ' '))))),
        el('button', {
          type: 'button', class: 'btn small danger in-remove-word', 'aria-label': 'Remove this status word',
          'aria-describedby': `in-word-${n}`,
          onclick: () => {
            li.remove();
            fieldError('in-words', '');
            $('in-add-word').focus();
          },
        }, 'Remove'));
      return li;
    }

    function fillRepos() {
      $('in-repository').replaceChildren(el('option', { value: '' }, 'Named in each payload'),
        ...state.repos.map((r) => el('option', { value: r.id }, r.name)));
    }

    function syncKind() {
      const kind = $('in-kind').value;
      document.querySelectorAll('#in-form [data-in-kinds]').forEach((n) => { n.hidden = !n.dataset.inKinds.split(/\s+/).includes(kind); });
      setText('in-kind-help', kindOf(kind).about);
      $('in-name').placeholder = kindOf(kind).name;
    }

    function clearErrors() {
      ALL_CONTROLS.forEach((id) => fieldError(id, ''));
      setFormError([]);
    }
    function setFormError(list) {
      $('in-form-error').replaceChildren(...(list.length ? [el('p', null, 'Not created:'), el('ul', null, list.map((m) => el('li', null, m)))] : []));
      show('in-form-error', list.length > 0);
    }
    function focusFirstError() {
      const first = [...document.querySelectorAll('#in-form [aria-invalid="true"]')].find((c) => !c.closest('[hidden]'));
      if (first) first.focus(); else if (!$('in-form-error').hidden) $('in-form-title').focus();
    }

    function openForm(opener) {
      hideReveal(false);
      clearErrors();
      local.opener = opener || $('in-add');
      $('in-kind').value = 'GITHUB';
      $('in-name').value = '';
      fillRepos();
      $('in-signing').checked = false;
      PATHS.forEach(([, id]) => { $(id).value = ''; });
      $('in-word-list').replaceChildren(...DEFAULT_WORDS.map(([w, s]) => wordRow(w, s)));
      syncKind();
      show('in-form', true);
      $('in-add').setAttribute('aria-expanded', 'true');
      $('in-form').scrollIntoView({ block: 'start' });
      $('in-kind').focus({ preventScroll: true });
    }

    function closeForm(restoreFocus) {
      if ($('in-form').hidden) return;
      show('in-form', false);
      clearErrors();
      $('in-add').setAttribute('aria-expanded', 'false');
      const opener = local.opener;
      local.opener = null;
      if (restoreFocus) (opener && opener.isConnected ? opener : $('in-add')).focus();
    }

    /** The status-word table as input; `fail` marks what is wrong. */
    function readWords(fail) {
      const seen = new Set();
      const words = [];
      for (const row of $('in-word-list').children) {
        const word = row.querySelector('.in-word').value.trim();
        if (!word) continue;
        if (seen.has(word)) fail('in-words', `“${word}” is listed twice: keep one.`);
        seen.add(word);
        words.push({ word, status: row.querySelector('.in-word-status').value });
      }
      if (!words.length) fail('in-words', 'Add at least one word the sender uses, and the status it means.');
      return words;
    }

    /** Reads the editor into createInboundSource's input, or marks what is missing and returns null. */
    function readForm() {
      let ok = true;
      const fail = (id, msg) => { fieldError(id, msg); ok = false; };
      const kind = $('in-kind').value;
      const name = $('in-name').value.trim();
      if (!name) fail('in-name', 'Enter a name, e.g. the repository or project the events come from.');
      else if (name.length > 100) fail('in-name', 'At most 100 characters.');
      const input = { kind, name, repositoryId: $('in-repository').value || null };
      if (kind === 'GITLAB') input.signingSecret = $('in-signing').checked;
      if (kind === 'GENERIC') {
        const mapping = Object.fromEntries(PATHS.map(([key, id]) => [key, $(id).value.trim() || null]));
        if (!mapping.externalId) fail('in-external-id', 'Enter where the build’s id is, e.g. $.id.');
        if (!mapping.status) fail('in-status', 'Enter where the status word is, e.g. $.status.');
        if (!mapping.repository && !input.repositoryId) fail('in-map-repository', 'Enter where the repository name is, or choose a repository above.');
        mapping.statuses = readWords(fail);
        input.mapping = mapping;
      }
      return ok ? input : null;
    }

    /** A GraphQL error's message, naming its field (extensions.field) when it has one. */
    function named(e) {
      const field = String((e && e.extensions && e.extensions.field) || '');
      const msg = String((e && e.message) || '');
      return field && !msg.includes(field) ? `${field}: ${msg}` : msg;
    }
    function controlFor(field) {
      if (/statuses/.test(field)) return 'in-words';
      const last = field.split('.').pop().replace(/\[\d+\]$/, '');
      return CONTROLS[last] || null;
    }

    async function onSave(ev) {
      ev.preventDefault();
      if (local.saving || $('in-form').hidden) return;
      clearErrors();
      const input = readForm();
      if (!input) { focusFirstError(); return; }
      const btn = $('in-save');
      local.saving = true;
      setBusy(btn, true);
      $('in-form').setAttribute('aria-busy', 'true');
      announce('Creating the source…');
      try {
        const payload = (await api(Q.create, { input })).createInboundSource;
        closeForm(false);
        local.sources = [...local.sources.filter((s) => s.id !== payload.source.id), payload.source];
        renderSources();
        announce(`Source ${payload.source.name} created: copy its secret now.`);
        reveal(payload, `Source “${payload.source.name}” created`);
      } catch (err) {
        if (err.unauth) return;
        announce('Not created: see the errors in the form.');
        for (const e of page.errList(err)) {
          const ctrl = controlFor(String((e.extensions && e.extensions.field) || ''));
          if (ctrl && !$(ctrl).closest('[hidden]')) fieldError(ctrl, page.stripField(e));
        }
        setFormError(messages(err));
        focusFirstError();
      } finally {
        local.saving = false;
        setBusy(btn, false);
        $('in-form').removeAttribute('aria-busy');
      }
    }

    // ---- regenerate and delete --------------------------------------------------------------
    async function regenerate(id, btn) {
      const s = local.sources.find((x) => x.id === id);
      if (!s || isBusy(btn)) return;
      if (!window.confirm(`Regenerate the secret of “${s.name}”? The current one stops working at once: the sender needs the new one.`)) return;
      setBusy(btn, true);
      showAlert('in-error', '');
      try {
        const payload = (await api(Q.regenerate, { sourceId: id })).regenerateInboundSecret;
        local.sources = local.sources.map((x) => (x.id === id ? payload.source : x));
        renderSources();
        announce(`New secret for ${s.name}: copy it now.`);
        reveal(payload, `New secret for “${s.name}”`);
      } catch (err) {
        if (!err.unauth) showAlert('in-error', `Could not regenerate the secret of ${s.name}: ${messages(err).join(' ')}`);
      } finally { setBusy(btn, false); }
    }

    async function remove(id, btn) {
      const s = local.sources.find((x) => x.id === id);
      if (!s || isBusy(btn)) return;
      if (!window.confirm(`Delete the source “${s.name}”? Its URL stops accepting events.`)) return;
      setBusy(btn, true);
      showAlert('in-error', '');
      try {
        await api(Q.remove, { sourceId: id });
        local.sources = local.sources.filter((x) => x.id !== id);
        if (local.revealedId === id) hideReveal(false);
        renderSources();
        announce(`Deleted the source ${s.name}.`);
        $('in-add').focus();
      } catch (err) {
        if (!err.unauth) showAlert('in-error', `Could not delete ${s.name}: ${messages(err).join(' ')}`);
      } finally { setBusy(btn, false); }
    }

    // ---- inbound log ------------------------------------------------------------------------
    function sourceName(id) {
      const s = local.sources.find((x) => x.id === id);
      return s ? s.name : 'Deleted source';
    }

    function logRow(r) {
      const result = String(r.result || 'UNKNOWN');
      return el('tr', { class: 'in-log-row', dataset: { result } },
        el('td', { class: 'nowrap' }, page.timeEl(r.receivedTimestamp)),
        // The result second: visible without scrolling the table on a phone.
        el('td', { class: 'in-result-cell' },
          el('span', { class: `badge in-result in-${result.toLowerCase().replace(/[^a-z_]/g, '')}` }, result),
          r.reason ? el('span', { class: 'in-reason' }, r.reason) : null),
        el('td', { class: 'mono in-event' }, r.event || ''),
        el('td', null, sourceName(r.sourceId)),
        el('td', { class: 'num in-http' }, String(r.httpStatus)),
        el('td', null, r.buildId != null ? String(r.buildId) : '—'),
        el('td', { class: 'mono in-delivery' }, r.deliveryId || '—'));
    }

    async function loadLog() {
      const btn = $('in-log-refresh');
      if (isBusy(btn)) return;
      setBusy(btn, true);
      try {
        const data = await api(Q.log, { uid: state.uid });
        const rows = (data.ownerInfo && data.ownerInfo.inboundRequests) || [];
        $('in-log-body').replaceChildren(...rows.map(logRow));
        show('in-log-empty', rows.length === 0);
        show('in-log-wrap', rows.length > 0);
        if (btn === document.activeElement) announce('Inbound log refreshed.');
      } catch (err) {
        if (!err.unauth) showAlert('in-error', `Could not load the inbound log: ${err.message}`);
      } finally { setBusy(btn, false); }
    }

    // ---- start ------------------------------------------------------------------------------
    $('in-paths').replaceChildren(...PATHS.map(pathField));
    const clicks = {
      'in-add': (e) => openForm(e.currentTarget), 'in-cancel': () => closeForm(true),
      'in-add-word': () => {
        const row = wordRow('', 'COMPLETED');
        $('in-word-list').append(row);
        row.querySelector('input').focus();
      },
      'in-copy-url': () => copyRevealed('in-reveal-url', 'URL'),
      'in-copy-secret': () => copyRevealed('in-reveal-secret', 'Secret'),
      'in-copy-signing': () => copyRevealed('in-reveal-signing', 'Signing secret'),
      'in-reveal-done': () => hideReveal(true),
      // Sources first: the log names them.
      'in-log-refresh': () => loadSources().then(loadLog),
    };
    for (const [id, fn] of Object.entries(clicks)) $(id).addEventListener('click', fn);
    $('in-form').addEventListener('submit', onSave);
    $('in-kind').addEventListener('change', () => { syncKind(); clearErrors(); });
    for (const id of Object.values(CONTROLS)) {
      $(id).addEventListener($(id).matches('select, [type="checkbox"]') ? 'change' : 'input', () => fieldError(id, ''));
    }
    $('in-word-list').addEventListener('input', () => fieldError('in-words', ''));

    return {
      /** After sign-in: the sources, then the log that names them. */
      load: async () => { await loadSources(); await loadLog(); },
      /** At sign-out: nothing of the organization, and no secret, stays in the page. */
      reset: () => {
        hideReveal(false);
        closeForm(false);
        local.sources = [];
        $('in-list').replaceChildren();
        $('in-log-body').replaceChildren();
        showAlert('in-error', '');
      },
    };
  };
})();
