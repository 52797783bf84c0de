/*
 * buildhooks settings page, endpoint kinds (GET /settings/assets/settings-chat.js).
 * Owns what differs per kind (Webhook and the chat robots: Slack, Discord, Microsoft Teams,
 * DingTalk, Feishu/Lark, WeCom): which editor fields show, how the kind's settings are read
 * from the editor and sent back unchanged from the list, the message previews
 * (webhookMessagePreview, on a saved robot's card and in the editor) drawn as a chat bubble,
 * the robot's answer to a test message, and the organization's build URL template.
 * Loaded before settings.js, which calls window.buildhooksChat(page) once at start with the
 * helpers and state it shares; server strings reach the DOM through textContent only.
 */
(() => {
  'use strict';

  /**
   * Per kind: the list's label, the editor's words for the URL and the secret, and the vendor's
   * URL shape as placeholder. `secret`: 'webhook' (our signatures), 'sign' (the vendor's
   * signing secret) or null (the secret is the URL itself, so it is masked once saved).
   */
  const KINDS = {
    WEBHOOK: {
      label: 'Webhook', secret: 'webhook', urlLabel: 'URL',
      placeholder: 'https://ci.example.com/hooks/cirrus',
      about: 'A signed JSON POST to your own receiver.',
      urlHelp: 'Where each event is POSTed as JSON. Redirects are not followed.',
    },
    SLACK: {
      label: 'Slack', secret: null, urlLabel: 'Incoming webhook URL',
      placeholder: 'https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX',
      about: 'A Block Kit message through a Slack incoming webhook. Mattermost incoming webhooks take the same messages: choose Slack for them too.',
    },
    DISCORD: {
      label: 'Discord', secret: null, urlLabel: 'Webhook URL',
      placeholder: 'https://discord.com/api/webhooks/000000000000000000/XXXXXXXXXXXXXXXX',
      about: 'An embed through a channel webhook (Server settings → Integrations → Webhooks).',
    },
    TEAMS: {
      label: 'Microsoft Teams', secret: null, urlLabel: 'Workflow URL',
      placeholder: 'https://prod-00.westus.logic.azure.com:443/workflows/…/triggers/manual/paths/invoke?api-version=2016-06-01&sig=…',
      about: 'An Adaptive Card through a Teams Workflows webhook (“Post to a channel when a webhook request is received”).',
    },
    DINGTALK: {
      label: 'DingTalk', secret: 'sign', urlLabel: 'Robot URL',
      placeholder: 'https://oapi.dingtalk.com/robot/send?access_token=XXXXXXXX',
      about: 'A markdown message through a group’s custom robot.',
      secretHelp: 'The robot’s signing secret (security setting “Additional Signature”, 加签; it starts with SEC): adds timestamp and sign to each request.',
    },
    FEISHU: {
      label: 'Feishu/Lark', secret: 'sign', urlLabel: 'Robot URL',
      placeholder: 'https://open.feishu.cn/open-apis/bot/v2/hook/xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx',
      about: 'An interactive card through a group’s custom bot (Lark: open.larksuite.com).',
      secretHelp: 'The bot’s signing secret (security setting “Set signature verification”, 签名校验): adds timestamp and sign to each message.',
    },
    WECOM: {
      label: 'WeCom', secret: null, urlLabel: 'Robot URL',
      placeholder: 'https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx',
      about: 'A markdown message through a group robot.',
    },
  };
  const CHAT_URL_HELP = 'The URL is the robot’s secret: once saved it is shown masked, and leaving the mask keeps the saved URL.';
  const WEBHOOK_SECRET_HELP = 'Signs every delivery (X-Cirrus-Signature; generated whsec_ secrets also get Standard Webhooks headers).';
  const PREVIEW_Q = 'query($input: WebhookMessagePreviewInput!){ webhookMessagePreview(input: $input) { body text eventKey fromEvent errors } }';

  const isChat = (kind) => !!kind && kind !== 'WEBHOOK';
  const kindOf = (kind) => KINDS[kind] || KINDS.WEBHOOK;
  const words = (value) => String(value || '').split(',').map((s) => s.trim()).filter(Boolean);
  /** `data-kinds` lists kinds separated by spaces; "chat" stands for every robot. */
  const shownFor = (spec, kind) => spec.split(/\s+/).some((k) => k === kind || (k === 'chat' && isChat(kind)));
  const defaultOrdering = (kind) => (isChat(kind) ? 'PER_BUILD' : 'NONE');
  const defaultDigest = (kind) => kind === 'DINGTALK' || kind === 'WECOM';

  window.buildhooksChat = (page) => {
    const { $, el, api, state } = page;

    /** Shows only the kind's fields and words the shared ones (URL, secret) for it. */
    function syncKind(kind) {
      const k = kindOf(kind);
      document.querySelectorAll('#endpoint-form [data-kinds]').forEach((n) => { n.hidden = !shownFor(n.dataset.kinds, kind); });
      $('ep-url-label').textContent = k.urlLabel;
      $('ep-url').placeholder = k.placeholder;
      $('ep-url-help').textContent = isChat(kind) ? CHAT_URL_HELP : k.urlHelp;
      $('ep-kind-help').textContent = k.about;
      $('ep-secret-legend').textContent = k.secret === 'sign' ? 'Signing secret' : 'Secret';
      $('ep-secret-help').textContent = k.secret === 'sign' ? k.secretHelp : WEBHOOK_SECRET_HELP;
      $('ep-generate').disabled = k.secret !== 'webhook';
      if (k.secret !== 'webhook' && $('ep-generate').checked) $('ep-none').checked = true;
    }

    /** Fills the kind's fields of the editor from a saved endpoint, or with the kind's defaults. */
    function fill(ep, kind) {
      $('ep-kind').value = kind;
      $('ep-template').value = (ep && ep.template) || '';
      $('ep-ordering').value = (ep && ep.ordering) || defaultOrdering(kind);
      $('ep-digest').checked = ep ? !!ep.digest : defaultDigest(kind);
      $('ep-at-mobiles').value = ep && ep.atMobiles ? ep.atMobiles.join(', ') : '';
      $('ep-is-at-all').checked = !!(ep && ep.isAtAll);
      $('ep-mentioned-list').value = ep && ep.mentionedList ? ep.mentionedList.join(', ') : '';
      $('ep-max-in-flight').value = ep && ep.maxInFlight != null ? String(ep.maxInFlight) : '';
      syncKind(kind);
    }

    /** The user chose another kind: its fields, with its defaults unless it is the saved kind. */
    function changeKind(ep) {
      const kind = $('ep-kind').value;
      const saved = ep && (ep.kind || 'WEBHOOK') === kind;
      $('ep-ordering').value = saved ? ep.ordering || defaultOrdering(kind) : defaultOrdering(kind);
      $('ep-digest').checked = saved ? !!ep.digest : defaultDigest(kind);
      syncKind(kind);
      $('chat-preview-output').hidden = true;
    }

    /** Only the settings the kind takes: another kind's settings are refused by the server. */
    function kindFields(kind, s) {
      const out = { kind, ordering: s.ordering || defaultOrdering(kind) };
      if (isChat(kind)) Object.assign(out, { template: s.template || '', digest: !!s.digest });
      if (kind === 'DINGTALK') Object.assign(out, { atMobiles: s.atMobiles || [], isAtAll: !!s.isAtAll });
      if (kind === 'WECOM') out.mentionedList = s.mentionedList || [];
      return out;
    }

    /** A saved endpoint's kind settings, to send back unchanged. */
    const saved = (ep) => kindFields(ep.kind || 'WEBHOOK', ep);

    /** The editor's kind settings; `fail(controlId, message)` marks what is wrong. */
    function read(fail) {
      const kind = $('ep-kind').value;
      const atMobiles = words($('ep-at-mobiles').value);
      if (kind === 'DINGTALK' && atMobiles.some((m) => !/^\+?[0-9][0-9 -]{3,19}$/.test(m))) {
        fail('ep-at-mobiles', 'Enter mobile numbers separated by commas, e.g. 13800000000, 13900000000.');
      }
      const out = kindFields(kind, {
        ordering: $('ep-ordering').value, template: $('ep-template').value.trim() ? $('ep-template').value : '',
        digest: $('ep-digest').checked, atMobiles, isAtAll: $('ep-is-at-all').checked,
        mentionedList: words($('ep-mentioned-list').value),
      });
      const inFlight = $('ep-max-in-flight').value.trim();
      if (kind === 'WEBHOOK' && inFlight) {
        const n = Number(inFlight);
        if (Number.isInteger(n) && n >= 1 && n <= 64) out.maxInFlight = n;
        else fail('ep-max-in-flight', 'Enter a whole number from 1 to 64, or leave it empty for 4.');
      }
      return out;
    }

    /** webhookMessagePreview's input for kind settings `s` (a saved endpoint or `read`'s). */
    function previewInput(ownerUid, s, query) {
      const input = { ownerUid, kind: s.kind, template: s.template || null, query: query || null };
      if (s.kind === 'DINGTALK') Object.assign(input, { atMobiles: s.atMobiles || [], isAtAll: !!s.isAtAll });
      if (s.kind === 'WECOM') input.mentionedList = s.mentionedList || [];
      return input;
    }

    async function preview(input) {
      return (await api(PREVIEW_Q, { input })).webhookMessagePreview;
    }

    /** A preview as the robot's group would roughly show it; `failure` is a failed request's text. */
    function previewView(kind, p, failure) {
      if (failure) return [el('p', { class: 'alert error' }, `Could not render the message: ${failure}`)];
      const errors = p.errors || [];
      const source = p.fromEvent
        ? `From the organization's latest event (${p.eventKey}).`
        : `From a sample event (${p.eventKey}): the organization has no event yet.`;
      return [
        el('p', { class: 'help chat-preview-source', dataset: { fromEvent: String(!!p.fromEvent) } }, source),
        el('div', { class: 'chat-bubble', role: 'group', 'aria-label': `Message as ${kindOf(kind).label} shows it` },
          el('span', { class: 'chat-who' }, `${kindOf(kind).label} robot`),
          el('pre', { class: 'chat-text' }, p.text || '(empty message)')),
        errors.length ? el('div', { class: 'alert error chat-errors', role: 'alert' },
          el('p', null, 'Template problems:'), el('ul', null, errors.map((e) => el('li', null, e)))) : null,
        el('details', { class: 'chat-body' },
          el('summary', null, 'JSON body the robot receives (unsigned)'),
          el('pre', { class: 'code', tabindex: '0' }, page.pretty(p.body))),
      ].filter(Boolean);
    }

    /** The robot's answer to the last attempt of a test message, for the endpoint's card. */
    function answerView(answer) {
      return el('div', { class: 'ping-answer' },
        el('span', { class: 'help' }, 'The robot answered:'), el('pre', { class: 'excerpt' }, answer));
    }

    // ---- message previews ---------------------------------------------------------------------
    /** Renders a message preview (webhookMessagePreview) into `box`; the outcome is also returned. */
    async function renderMessagePreview(box, kind, input) {
      box.hidden = false;
      box.setAttribute('aria-busy', 'true');
      box.replaceChildren(el('p', { class: 'status' }, 'Rendering the message…'));
      let shown;
      try {
        shown = { p: await preview(input) };
      } catch (err) {
        if (err.unauth) return null;
        shown = { failure: page.errList(err).map(page.stripField).join('; ') };
      }
      box.replaceChildren(...previewView(kind, shown.p, shown.failure));
      box.removeAttribute('aria-busy');
      return shown;
    }

    /** A saved robot's message, previewed on its card. */
    async function previewEndpoint(id, btn) {
      const ep = state.endpoints.find((e) => e.id === id);
      const li = page.endpointItem(id);
      if (!ep || !li || page.isBusy(btn)) return;
      page.setBusy(btn, true);
      try {
        const shown = await renderMessagePreview(li.querySelector('.chat-preview'), ep.kind,
          previewInput(state.uid, saved(ep), ep.query));
        if (shown) state.previews.set(id, shown);
      } finally { page.setBusy(page.endpointButton(id, 'ep-preview-message') || btn, false); }
    }

    /** The editor's robot message, with what is typed and not yet saved. */
    async function onChatPreview() {
      const btn = $('ep-chat-preview');
      if (page.isBusy(btn)) return;
      page.fieldError('ep-at-mobiles', '');
      const fields = read(page.fieldError);
      if ($('ep-at-mobiles').getAttribute('aria-invalid') === 'true') { $('ep-at-mobiles').focus(); return; }
      page.setBusy(btn, true);
      try {
        await renderMessagePreview($('chat-preview-output'), fields.kind,
          previewInput(state.uid, fields, $('ep-custom-query').checked ? $('ep-query').value : null));
      } finally { page.setBusy(btn, false); }
    }

    // ---- build URL template -------------------------------------------------------------------
    /** Takes the saved template; the field follows unless the user has typed an unsaved change. */
    function setBuildUrlTemplate(template) {
      const input = $('build-url-template');
      if (input.value === (state.buildUrlTemplate || '')) input.value = template || '';
      state.buildUrlTemplate = template || null;
    }

    async function onSaveBuildUrl(ev) {
      ev.preventDefault();
      const btn = $('build-url-save');
      if (page.isBusy(btn)) return;
      page.fieldError('build-url-template', '');
      const value = $('build-url-template').value.trim();
      page.setBusy(btn, true);
      page.setText('build-url-status', 'Saving…');
      try {
        await page.saveList(state.endpoints.map(page.toInput), { buildUrlTemplate: value });
        $('build-url-template').value = state.buildUrlTemplate || '';
        page.setText('build-url-status', value ? 'Saved: chat messages link to the build.' : 'Saved: chat messages carry no link.');
      } catch (err) {
        if (err.unauth) return;
        page.setText('build-url-status', '');
        page.fieldError('build-url-template', page.errList(err).map(page.stripField).join(' '));
        $('build-url-template').focus();
      } finally { page.setBusy(btn, false); }
    }

    return {
      KINDS, isChat, label: (kind) => kindOf(kind).label, secretKind: (kind) => kindOf(kind).secret,
      syncKind, fill, changeKind, saved, read, answerView,
      previewEndpoint, onChatPreview, setBuildUrlTemplate, onSaveBuildUrl,
    };
  };
})();
