/*
 * buildhooks settings page, endpoint kinds (GET /settings/assets/settings-chat.js).
 * Owns what differs per kind (Webhook, the chat robots: Slack, Discord, Microsoft Teams,
 * DingTalk, Feishu/Lark, WeCom, and the broker kinds NATS and AMQP): which editor fields show,
 * how the kind's settings are read from the editor and sent back unchanged from the list, the
 * operator's brokers (the `brokers` query: which broker kinds are offered, the broker choice),
 * how a broker endpoint is named in the list, the message previews
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
    NATS: {
      label: 'NATS', secret: 'webhook', subjectLabel: 'Subject',
      about: 'A JetStream message on one of the operator’s NATS brokers: the webhook’s JSON body, signed in its headers.',
      subjectNote: 'Messages are acknowledged by a JetStream stream: ask whoever consumes them to create one covering these subjects (e.g. buildhooks.42.>); buildhooks creates none.',
      secretHelp: 'Signs every message (x-cirrus-signature header; generated whsec_ secrets also get Standard Webhooks headers).',
    },
    AMQP: {
      label: 'AMQP', secret: 'webhook', subjectLabel: 'Routing key',
      about: 'A persistent message to a topic exchange on one of the operator’s AMQP (RabbitMQ) brokers: the webhook’s JSON body, signed in its headers.',
      subjectNote: 'Published to the exchange below with this routing key; bind a queue to the exchange (e.g. with buildhooks.42.#) to receive the messages.',
      secretHelp: 'Signs every message (x-cirrus-signature header; generated whsec_ secrets also get Standard Webhooks headers).',
    },
  };
  const BROKER_KINDS = ['NATS', 'AMQP'];
  // The server's defaults (schema/src/webhook/broker.rs), shown and sent as typed.
  const DEFAULT_SUBJECT = 'buildhooks.{org}.{event}.{status}';
  const DEFAULT_EXCHANGE = 'buildhooks';
  const CHAT_URL_HELP = 'The URL is the robot’s secret: once saved it is shown masked, and leaving the mask keeps the saved URL.';
  const WEBHOOK_SECRET_HELP = 'Signs every delivery (X-Cirrus-Signature; generated whsec_ secrets also get Standard Webhooks headers).';
  const PREVIEW_Q = 'query($input: WebhookMessagePreviewInput!){ webhookMessagePreview(input: $input) { body text eventKey fromEvent errors } }';
  const BROKERS_Q = 'query{ brokers { name kind } }';

  const isBroker = (kind) => BROKER_KINDS.includes(kind);
  const isChat = (kind) => !!kind && kind !== 'WEBHOOK' && !isBroker(kind);
  const kindOf = (kind) => KINDS[kind] || KINDS.WEBHOOK;
  const words = (value) => String(value || '').split(',').map((s) => s.trim()).filter(Boolean);
  /** `data-kinds` lists kinds separated by spaces; "chat" stands for every robot, "broker" for
   *  NATS and AMQP. */
  const shownFor = (spec, kind) => spec.split(/\s+/).some((k) => k === kind
    || (k === 'chat' && isChat(kind)) || (k === 'broker' && isBroker(kind)));
  const defaultOrdering = (kind) => (isChat(kind) ? 'PER_BUILD' : 'NONE');
  const defaultDigest = (kind) => kind === 'DINGTALK' || kind === 'WECOM';

  /** How the list names an endpoint (saved, or as saveWebHookSettings input): its URL, or for
   *  a broker kind `NATS · bus · buildhooks.{org}.{event}.{status}` (AMQP adds the exchange). */
  function targetName(ep) {
    const kind = ep.kind || 'WEBHOOK';
    if (!isBroker(kind)) return ep.webhookURL || '';
    const exchange = kind === 'AMQP' ? [ep.exchange || DEFAULT_EXCHANGE] : [];
    return [kindOf(kind).label, ep.broker || '', ...exchange, ep.subject || DEFAULT_SUBJECT].join(' · ');
  }

  window.buildhooksChat = (page) => {
    const { $, el, api, state } = page;
    let brokers = []; // the operator's brokers ({ name, kind }); none until loaded
    let brokersFailure = '';

    // ---- the operator's brokers ---------------------------------------------------------------
    /** Offers NATS and AMQP only when the operator configured a broker of that kind. */
    function syncBrokerKinds() {
      const hints = [];
      for (const kind of BROKER_KINDS) {
        const option = $('ep-kind').querySelector(`option[value="${kind}"]`);
        const none = !brokers.some((b) => b.kind === kind);
        option.disabled = none;
        option.textContent = `${option.dataset.label}${none ? ' (no broker configured)' : ''}`;
        if (none) hints.push(`${kindOf(kind).label} is unavailable: the operator has configured no ${kindOf(kind).label} broker.`);
      }
      if (brokersFailure) hints.splice(0, hints.length, `NATS and AMQP are unavailable: could not load the operator’s brokers (${brokersFailure}).`);
      $('ep-kind-brokers').textContent = hints.join(' ');
      $('ep-kind-brokers').hidden = hints.length === 0;
    }

    /** The broker choice: the operator's brokers of `kind`, with `chosen` selected (kept, and
     *  marked, when the operator no longer configures it). */
    function fillBrokers(kind, chosen) {
      const names = brokers.filter((b) => b.kind === kind).map((b) => b.name);
      const gone = chosen && !names.includes(chosen) ? [el('option', { value: chosen }, `${chosen} (not configured)`)] : [];
      $('ep-broker').replaceChildren(...names.map((n) => el('option', { value: n }, n)), ...gone);
      if (chosen) $('ep-broker').value = chosen;
    }

    async function loadBrokers() {
      try {
        brokers = (await api(BROKERS_Q, {})).brokers || [];
        brokersFailure = '';
      } catch (err) {
        if (err.unauth) return;
        brokers = [];
        brokersFailure = err.message;
      }
      syncBrokerKinds();
      const kind = $('ep-kind').value;
      if (isBroker(kind)) fillBrokers(kind, $('ep-broker').value);
    }

    function resetBrokers() {
      brokers = [];
      brokersFailure = '';
      syncBrokerKinds();
    }

    // ---- the editor ---------------------------------------------------------------------------
    /** Shows only the kind's fields and words the shared ones (URL, secret, subject) for it. */
    function syncKind(kind) {
      const k = kindOf(kind);
      document.querySelectorAll('#endpoint-form [data-kinds]').forEach((n) => { n.hidden = !shownFor(n.dataset.kinds, kind); });
      $('ep-url-label').textContent = k.urlLabel || 'URL';
      $('ep-url').placeholder = k.placeholder || '';
      $('ep-url-help').textContent = isChat(kind) ? CHAT_URL_HELP : k.urlHelp || '';
      $('ep-kind-help').textContent = k.about;
      $('ep-subject-label').textContent = k.subjectLabel || 'Subject';
      $('ep-subject-note').textContent = k.subjectNote || '';
      $('ep-secret-legend').textContent = k.secret === 'sign' ? 'Signing secret' : 'Secret';
      $('ep-secret-help').textContent = k.secretHelp || WEBHOOK_SECRET_HELP;
      $('ep-generate').disabled = k.secret !== 'webhook';
      if (k.secret !== 'webhook' && $('ep-generate').checked) $('ep-none').checked = true;
    }

    /** Fills the kind's fields of the editor from a saved endpoint, or with the kind's defaults. */
    function fill(ep, kind) {
      syncBrokerKinds();
      $('ep-kind').value = kind;
      if (isBroker(kind)) $('ep-url').value = ''; // its webhookURL only describes the target
      fillBrokers(kind, ep && ep.broker);
      $('ep-subject').value = (ep && ep.subject) || DEFAULT_SUBJECT;
      $('ep-exchange').value = (ep && ep.exchange) || DEFAULT_EXCHANGE;
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
      if (isBroker(kind)) fillBrokers(kind, saved ? ep.broker : null);
      syncKind(kind);
      $('chat-preview-output').hidden = true;
    }

    /** Only the settings the kind takes: another kind's settings are refused by the server. A
     *  broker kind has no URL of its own: its webhookURL is null (the caller's is replaced). */
    function kindFields(kind, s) {
      const out = { kind, ordering: s.ordering || defaultOrdering(kind) };
      if (isBroker(kind)) Object.assign(out, { webhookURL: null, broker: s.broker || null, subject: s.subject || null });
      if (kind === 'AMQP') out.exchange = s.exchange || null;
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
      if (isBroker(kind) && !$('ep-broker').value) fail('ep-broker', `Choose one of the operator’s ${kindOf(kind).label} brokers.`);
      // The subject and exchange rules are the server's: its errors show at these fields.
      const out = kindFields(kind, {
        ordering: $('ep-ordering').value, template: $('ep-template').value.trim() ? $('ep-template').value : '',
        digest: $('ep-digest').checked, atMobiles, isAtAll: $('ep-is-at-all').checked,
        mentionedList: words($('ep-mentioned-list').value),
        broker: $('ep-broker').value, subject: $('ep-subject').value.trim(), exchange: $('ep-exchange').value.trim(),
      });
      const inFlight = $('ep-max-in-flight').value.trim();
      if ((kind === 'WEBHOOK' || isBroker(kind)) && inFlight) {
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
      KINDS, isChat, isBroker, label: (kind) => kindOf(kind).label, secretKind: (kind) => kindOf(kind).secret,
      targetName, loadBrokers, resetBrokers,
      syncKind, fill, changeKind, saved, read, answerView, previewView,
      previewEndpoint, onChatPreview, setBuildUrlTemplate, onSaveBuildUrl,
    };
  };
})();
