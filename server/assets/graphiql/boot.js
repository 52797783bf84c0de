// Mounts GraphiQL (vendored, see README.md here) on #graphiql against POST /graphql.
//
// The API wants `Authorization: Bearer <token>`. Open `/graphql#token=<token>` to have the
// headers editor filled in: the token rides in the URL fragment, which browsers never send to
// the server (so it stays out of access logs, proxies and Referer headers), and this script
// removes it from the address bar and history at once. Without one, the headers editor opens
// with a template to fill in; then reload the schema (the refresh button, or Shift-Ctrl-R).
// Headers are not saved in the browser's storage (GraphiQL's shouldPersistHeaders stays off).
"use strict";

(function () {
  var fragment = new URLSearchParams(window.location.hash.slice(1));
  var token = fragment.get("token");
  if (token !== null) {
    window.history.replaceState(null, "", window.location.pathname + window.location.search);
  }
  var template = '{\n  "Authorization": "Bearer <token>"\n}';
  var headers = token ? JSON.stringify({ Authorization: "Bearer " + token }, null, 2) : undefined;

  var props = {
    fetcher: GraphiQL.createFetcher({ url: "/graphql" }),
    defaultHeaders: template,
    defaultEditorToolsVisibility: token ? false : "headers",
    defaultQuery:
      "# The buildhooks API. Requests need an organization's API token in the Headers tab:\n" +
      '#   {"Authorization": "Bearer <token>"}\n' +
      "# (or open /graphql#token=<token>); then reload the schema (Shift-Ctrl-R).\n" +
      "# The SDL is at /graphql/schema.graphql.\n" +
      "\n" +
      "{\n  ownerInfo {\n    uid\n    name\n  }\n}\n",
  };
  if (headers) {
    props.headers = headers;
  }
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(React.createElement(GraphiQL, props));
})();
