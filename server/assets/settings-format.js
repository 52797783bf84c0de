/*
 * buildhooks settings page, payload formats (GET /settings/assets/settings-format.js).
 * Owns the body shape a webhook or broker endpoint asks for (`payloadFormat`: DOCUMENTED,
 * `{action, old_status, data}`, or CIRRUS, the flat body Cirrus CI sends today): the editor's
 * "Payload format" select (its field shows only for those kinds, through data-kinds), what the
 * save sends (nothing for a chat kind: the server refuses a format there), the "Cirrus body" tag
 * in the endpoint list, and the default query each format runs when the endpoint stores none
 * (shown in the query editor and sent to the payload preview).
 * Loaded before settings.js, which calls window.buildhooksFormat(page) once at start with the
 * helpers it shares.
 */
(() => {
  'use strict';

  const FORMATS = ['DOCUMENTED', 'CIRRUS'];
  // Copied from schema/src/webhook/format.rs (CIRRUS_QUERY): what Cirrus's body carries today.
  // server/src/http/settings.rs checks that every line of it is here.
  const CIRRUS_QUERY = [
    'query WebhookPayload($repositoryId: ID!, $buildId: ID!, $taskId: ID) {',
    '  repository(id: $repositoryId) { id owner name isPrivate }',
    '  build(id: $buildId) { id branch pullRequest durationInSeconds changeIdInRepo changeTimestamp changeMessageTitle status user { id username } }',
    '  task(id: $taskId) { id name nameAlias status statusTimestamp creationTimestamp durationInSeconds uniqueLabels automaticReRun automaticallyReRunnable instanceType notifications { level message link } }',
    '}',
  ].join('\n');

  window.buildhooksFormat = (page) => {
    const { $, el, isChat, defaultQuery: documentedQuery } = page;
    const kind = () => $('ep-kind').value;
    /** The editor's format: the select's, or DOCUMENTED for a chat kind (it takes none). */
    const chosen = () => (isChat(kind()) ? 'DOCUMENTED' : $('ep-payload-format').value);

    /** The query an endpoint runs when it stores none, for the editor's kind and format. */
    const defaultQuery = () => (chosen() === 'CIRRUS' ? CIRRUS_QUERY : documentedQuery);

    /** Shows the preview's note for CIRRUS. */
    function syncNote() {
      const cirrus = chosen() === 'CIRRUS';
      $('preview-format-note').hidden = !cirrus;
      // A hidden element named by aria-describedby is still read: name it only when shown.
      if (cirrus) $('ep-preview').setAttribute('aria-describedby', 'preview-format-note');
      else $('ep-preview').removeAttribute('aria-describedby');
    }

    /** The format or kind changed: the query editor shows the new default unless the user wrote
     *  their own (text that is one of the defaults follows the format). */
    function sync() {
      const query = $('ep-query');
      if (query.value === documentedQuery || query.value === CIRRUS_QUERY) query.value = defaultQuery();
      syncNote();
    }

    /** Fills the select from a saved endpoint (DOCUMENTED for a new one). */
    function fill(ep) {
      const saved = ep && FORMATS.includes(ep.payloadFormat) ? ep.payloadFormat : 'DOCUMENTED';
      $('ep-payload-format').value = saved;
    }

    /** The editor's format as saveWebHookSettings input: none for a chat kind. */
    const read = () => (isChat(kind()) ? {} : { payloadFormat: $('ep-payload-format').value });

    /** The preview's query when no custom one is set: null, the server's default for the
     *  format the preview asks for. */
    const previewQuery = () => null;

    /** The list's tag for a saved endpoint with the Cirrus body, else null. */
    const tag = (ep) => (!isChat(ep.kind || 'WEBHOOK') && ep.payloadFormat === 'CIRRUS'
      ? el('span', { class: 'badge format' }, 'Cirrus body') : null);

    $('ep-payload-format').addEventListener('change', sync);

    return { CIRRUS_QUERY, chosen, defaultQuery, sync, syncNote, fill, read, previewQuery, tag };
  };
})();
