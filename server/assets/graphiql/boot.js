// Mounts GraphiQL (vendored, see README.md here) on #graphiql against POST /graphql.
//
// The API wants `Authorization: Bearer <token>`. Open `/graphql#token=<token>` to have the
// headers editor filled in: the token rides in the URL fragment, which browsers never send to
// the server (so it stays out of access logs, proxies and Referer headers), and this script
// removes it from the address bar and history at once. Without one, the headers editor opens
// with a template to fill in; then reload the schema (the refresh button, or Shift-Ctrl-R).
// Headers are never saved in the browser's storage: GraphiQL's shouldPersistHeaders stays off,
// and `storage` below drops them from what GraphiQL 3.9 saves anyway (its query history keeps
// each entry's headers).
"use strict";

(function () {
  var NAMESPACE = "graphiql:";
  function withoutHeaders(value) {
    try {
      return JSON.stringify(JSON.parse(value), function (key, v) {
        return key === "headers" ? undefined : v;
      });
    } catch (notJson) {
      return value;
    }
  }
  // GraphiQL's own default storage (localStorage, its keys only), with headers dropped.
  var storage = {
    getItem: function (key) {
      return window.localStorage.getItem(key);
    },
    setItem: function (key, value) {
      window.localStorage.setItem(key, withoutHeaders(value));
    },
    removeItem: function (key) {
      window.localStorage.removeItem(key);
    },
    get length() {
      return Object.keys(window.localStorage).filter(function (key) {
        return key.indexOf(NAMESPACE) === 0;
      }).length;
    },
    clear: function () {
      Object.keys(window.localStorage).forEach(function (key) {
        if (key.indexOf(NAMESPACE) === 0) {
          window.localStorage.removeItem(key);
        }
      });
    },
  };

  var fragment = new URLSearchParams(window.location.hash.slice(1));
  var token = fragment.get("token");
  if (token !== null) {
    window.history.replaceState(null, "", window.location.pathname + window.location.search);
  }
  var template = '{\n  "Authorization": "Bearer <token>"\n}';
  var headers = token ? JSON.stringify({ Authorization: "Bearer " + token }, null, 2) : undefined;

  var props = {
    fetcher: GraphiQL.createFetcher({ url: "/graphql" }),
    storage: storage,
    shouldPersistHeaders: false,
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
