//! Errors a newcomer can act on, and the page at `/`: a missing PostgreSQL database is named with
//! the `createdb` command that makes it, a server that does not answer and an SQLite file that
//! cannot be opened say what to check, each cause printed once and no password; `--listen`
//! takes a host name; a refused local receiver names the setting that allows it; a forbidden
//! status move names the allowed next ones; `GET /` links what the server serves.

use std::process::{Command, Output};
use std::time::Duration;

use serde_json::json;

use crate::cli::binary;
use crate::utils::database::{key_env, postgres_server, TestDatabase};
use crate::utils::{error_code, save_endpoints, TestApp};

/// Runs `buildhooks <args>` over the database at `url`, with the suite's key on a database
/// server and warnings logged (what an operator sees by default, less the info lines).
fn run(args: &[&str], url: &str) -> Output {
    Command::new(binary())
        .args(args)
        .env("BUILDHOOKS_DATABASE_URL", url)
        .envs(key_env(url))
        .env("BUILDHOOKS_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run buildhooks")
}

/// The lines of stderr that report the failure (`error: ...`).
fn error_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.starts_with("error: "))
        .map(str::to_owned)
        .collect()
}

/// The URL of database `name` on the server at `server`, with a password in its user info (the
/// server's own, else one a trusting local server ignores), and that password.
fn with_database_and_password(server: &str, name: &str) -> (String, String) {
    let (scheme, rest) = server.split_once("://").expect("a URL");
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let (userinfo, host) = authority
        .rsplit_once('@')
        .unwrap_or(("postgres", authority));
    let (user, password) = match userinfo.split_once(':') {
        Some((user, password)) => (user, password.to_owned()),
        None => (userinfo, "hunter2-never-shown".to_owned()),
    };
    (
        format!("{scheme}://{user}:{password}@{host}/{name}"),
        password,
    )
}

#[test]
fn a_missing_postgres_database_is_named_with_the_createdb_command_once() {
    let Some(server) = postgres_server() else {
        println!("skipped on SQLite: needs a PostgreSQL server; set BUILDHOOKS_TEST_DATABASE_URL");
        return;
    };
    let name = format!(
        "bh_missing_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let (url, password) = with_database_and_password(&server, &name);
    for command in [&["migrate"][..], &["serve"][..]] {
        let out = run(command, &url);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{command:?}: {stderr}");
        let lines = error_lines(&out);
        assert_eq!(lines.len(), 1, "{command:?}: one error line: {stderr}");
        let line = &lines[0];
        assert!(
            line.contains(&format!("database \"{name}\" does not exist")),
            "{line}"
        );
        assert_eq!(stderr.matches("does not exist").count(), 1, "{stderr}");
        assert!(line.contains("create it with: createdb "), "{line}");
        assert!(line.ends_with(&format!(" {name}")), "{line}");
        if server.contains("@127.0.0.1:5432/") && server.starts_with("postgres://postgres") {
            assert!(
                line.contains(&format!("createdb -h 127.0.0.1 -U postgres {name}")),
                "{line}"
            );
        }
        assert!(!stderr.contains(&password), "the password leaked: {stderr}");
    }
}

#[test]
fn a_database_server_that_does_not_answer_is_one_line_naming_its_address() {
    // A port nothing listens on (bound, then freed).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let url = format!("postgres://postgres:hunter2-never-shown@127.0.0.1:{port}/buildhooks");
    let out = run(&["serve"], &url);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    let lines = error_lines(&out);
    assert_eq!(lines.len(), 1, "{stderr}");
    let line = &lines[0];
    assert!(
        line.starts_with(&format!(
            "error: cannot connect to the database postgres://postgres@127.0.0.1:{port}/buildhooks"
        )),
        "{line}"
    );
    assert!(line.contains(&format!("(127.0.0.1:{port}: ")), "{line}");
    assert!(line.contains("refused"), "{line}");
    assert!(line.contains("is the database server running"), "{line}");
    assert_eq!(stderr.matches("refused").count(), 1, "{stderr}");
    assert!(
        stderr.matches("does not answer yet").count() <= 1,
        "the wait is said once: {stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn an_sqlite_file_in_a_missing_directory_names_its_path_and_the_directory_to_make() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let missing = dir.path().join("nonexistent-dir");
    let path = missing.join("x.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let out = run(&["migrate"], &url);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    let lines = error_lines(&out);
    assert_eq!(lines.len(), 1, "{stderr}");
    let line = &lines[0];
    assert!(
        line.starts_with(&format!(
            "error: the database file {} cannot be opened: ",
            path.display()
        )),
        "{line}"
    );
    assert!(
        line.contains(&format!(
            "the directory {} does not exist: create it (mkdir -p {})",
            missing.display(),
            missing.display()
        )),
        "{line}"
    );
    assert_eq!(stderr.matches("unable to open").count(), 1, "{stderr}");
    assert!(!missing.exists(), "nothing was created");
}

#[tokio::test]
async fn serve_listens_on_a_host_name_and_names_one_that_does_not_resolve() {
    let db = TestDatabase::new().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let mut child = Command::new(binary())
        .args(["serve", "--listen", &format!("localhost:{port}")])
        .env("BUILDHOOKS_DATABASE_URL", &db.url)
        .envs(key_env(&db.url))
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("serve");
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let mut answer = None;
    for _ in 0..150 {
        if let Ok(resp) = client
            .get(format!("http://localhost:{port}/healthz"))
            .send()
            .await
        {
            answer = Some((resp.status().as_u16(), resp.text().await.expect("body")));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(answer, Some((200, "ok".to_owned())));

    let out = Command::new(binary())
        .args(["serve", "--listen", "nowhere.invalid:8080"])
        .env("BUILDHOOKS_DATABASE_URL", &db.url)
        .envs(key_env(&db.url))
        .env("RUST_LOG", "warn")
        .output()
        .expect("serve");
    assert!(!out.status.success());
    let lines = error_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("error: cannot listen on nowhere.invalid:8080: "),
        "{lines:?}"
    );
}

#[tokio::test]
async fn saving_a_local_receiver_names_the_setting_that_allows_it() {
    let app = TestApp::spawn_with(|c| c.allow_private_targets = false).await;
    for url in ["http://127.0.0.1:9/hook", "http://localhost:9/hook"] {
        let resp = save_endpoints(&app, &app.org, json!([{ "webhookURL": url }])).await;
        assert_eq!(error_code(&resp), Some("VALIDATION"), "{url}: {resp}");
        let error = &resp["errors"][0];
        assert_eq!(
            error["extensions"]["field"], "deliveryEndpoints[0].webhookURL",
            "{resp}"
        );
        let message = error["message"].as_str().expect("message");
        assert!(
            message.contains("set BUILDHOOKS_ALLOW_PRIVATE_TARGETS=true to allow local receivers"),
            "{url}: {message}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_forbidden_task_move_names_the_allowed_next_statuses() {
    let app = TestApp::spawn().await;
    let repo = app.create_repository("allowed-next").await;
    let (_, tasks) = app
        .create_build(&repo, &[("early", false), ("done", false)], false)
        .await;
    let resp = app.set_task(&tasks[0], "EXECUTING").await;
    assert_eq!(error_code(&resp), Some("INVALID_TRANSITION"), "{resp}");
    let error = &resp["errors"][0];
    let message = error["message"].as_str().expect("message");
    assert!(
        message.ends_with(
            "cannot go from CREATED to EXECUTING; allowed next: TRIGGERED, ABORTED, SKIPPED"
        ),
        "{message}"
    );
    assert_eq!(
        error["extensions"]["allowedNext"],
        json!(["TRIGGERED", "ABORTED", "SKIPPED"])
    );

    app.move_task(&tasks[1], &["TRIGGERED", "EXECUTING", "COMPLETED"])
        .await;
    let resp = app.set_task(&tasks[1], "EXECUTING").await;
    assert_eq!(error_code(&resp), Some("INVALID_TRANSITION"), "{resp}");
    let error = &resp["errors"][0];
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.ends_with("allowed next: none (the status is final)")),
        "{resp}"
    );
    assert_eq!(error["extensions"]["allowedNext"], json!([]));
    app.stop().await;
}

#[tokio::test]
async fn the_root_page_links_what_the_server_serves_and_unknown_paths_are_404() {
    let app = TestApp::spawn().await;
    let resp = app.client.get(app.url("/")).send().await.expect("GET /");
    assert_eq!(resp.status(), 200);
    let kind = resp.headers()["content-type"]
        .to_str()
        .expect("type")
        .to_owned();
    assert!(kind.starts_with("text/html"), "{kind}");
    let page = resp.text().await.expect("page");
    for link in [
        "href=\"/graphql\"",
        "href=\"/graphql/schema.graphql\"",
        "href=\"/healthz\"",
        "href=\"/metrics\"",
        "/settings/&lt;uid&gt;",
        "<form action=\"/\" method=\"get\">",
        "README",
    ] {
        assert!(page.contains(link), "{link} in {page}");
    }
    assert!(
        !page.contains(&app.org.name),
        "the page names no organization"
    );

    // The form's answer opens the organization's settings page.
    let direct = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let resp = direct
        .get(app.url(&format!("/?org={}", app.org.uid)))
        .send()
        .await
        .expect("GET /?org");
    assert_eq!(resp.status(), 303);
    assert_eq!(
        resp.headers()["location"],
        format!("/settings/{}", app.org.uid).as_str()
    );
    let resp = direct
        .get(app.url("/?org=..%2Fx"))
        .send()
        .await
        .expect("bad uid");
    assert_eq!(resp.status(), 400);

    let resp = app
        .client
        .get(app.url("/no/such/page"))
        .send()
        .await
        .expect("404");
    assert_eq!(resp.status(), 404);
    assert!(resp.text().await.expect("body").contains("GET / lists"));
    app.stop().await;
}

#[tokio::test]
async fn a_dispatcher_only_process_says_so_at_its_root() {
    let db = TestDatabase::new().await;
    let config = crate::utils::database::config(&db.url);
    let app = TestApp::start(db, config, buildhooks_server::Role::Dispatcher).await;
    let resp = app.client.get(app.url("/")).send().await.expect("GET /");
    assert_eq!(resp.status(), 200);
    let page = resp.text().await.expect("page");
    assert!(page.contains("serve --role dispatcher"), "{page}");
    assert!(page.contains("href=\"/healthz\"") && page.contains("href=\"/metrics\""));
    assert!(!page.contains("href=\"/graphql\""), "{page}");
    let resp = app
        .client
        .get(app.url("/graphql"))
        .send()
        .await
        .expect("GET /graphql");
    assert_eq!(resp.status(), 404, "no API in this process");
    app.stop().await;
}
