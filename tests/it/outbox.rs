//! The outbox rows of a transition name the events they were rendered from: on PostgreSQL the
//! events and their rows are written in one statement, and each row's `event_id` is swapped in
//! there, so this checks the mapping row by row against the bodies.

use buildhooks_entity::{event, webhook_delivery};
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::{json, Value};

use crate::utils::{save_endpoints, settled_deliveries, Receiver, TestApp};

#[tokio::test]
async fn every_outbox_row_names_the_event_its_body_describes() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    save_endpoints(
        &app,
        &app.org,
        json!([{ "webhookURL": receiver.url(), "events": ["*"] }]),
    )
    .await;
    let repo = app.create_repository("mapping").await;
    // Creating the build, and moving its only task through its statuses, write a task event and
    // a build event in one transaction wherever the build's status follows the task's.
    let (_, tasks) = app.create_build(&repo, &[("a", false)], false).await;
    app.move_task(
        &tasks[0],
        &["TRIGGERED", "SCHEDULED", "EXECUTING", "COMPLETED"],
    )
    .await;
    let conn = app.state.store.conn();
    let events: Vec<event::Model> = event::Entity::find()
        .order_by_asc(event::Column::Id)
        .all(conn)
        .await
        .expect("events");
    assert!(events.len() >= 6, "{events:?}");
    let expected = events.len();
    assert_eq!(settled_deliveries(&app, expected).await.len(), expected);
    let rows: Vec<webhook_delivery::Model> = webhook_delivery::Entity::find()
        .order_by_asc(webhook_delivery::Column::Id)
        .all(conn)
        .await
        .expect("outbox");
    assert_eq!(rows.len(), expected);
    let mut seen = std::collections::HashSet::new();
    for row in &rows {
        let id = row.event_id.expect("every row names its event");
        assert!(seen.insert(id), "one row per event and endpoint: {id}");
        let event = events
            .iter()
            .find(|e| e.id == id)
            .expect("the event exists");
        let body: Value = serde_json::from_str(&row.body).expect("JSON body");
        assert_eq!(row.kind, event.kind);
        assert_eq!(body["action"], event.action.as_str(), "{body}");
        assert_eq!(body["old_status"].as_str(), event.old_status.as_deref());
        let described = &body["data"][event.kind.as_str()];
        assert_eq!(described["status"], event.new_status.as_str(), "{body}");
        match event.task_id {
            Some(task) => assert_eq!(described["id"], task.to_string().as_str()),
            None => assert_eq!(described["id"], event.build_id.to_string().as_str()),
        }
    }
    app.stop().await;
}
