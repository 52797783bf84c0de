//! A minimal GraphQL client of our own API, for the CLI's `demo` and `bench`: one operation per
//! POST with the organization's bearer token; GraphQL errors become `Err`.

use anyhow::bail;
use serde_json::{json, Value};

/// The API at `url` (`.../graphql`) as the organization owning `token`.
pub struct Api {
    pub client: reqwest::Client,
    pub url: String,
    pub token: String,
}

impl Api {
    /// Runs one operation; returns `data`.
    pub async fn call(&self, query: &str, variables: Value) -> anyhow::Result<Value> {
        let resp: Value = self
            .client
            .post(&self.url)
            .bearer_auth(&self.token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await?
            .json()
            .await?;
        if let Some(errors) = resp.get("errors") {
            bail!("GraphQL error: {errors}");
        }
        Ok(resp["data"].clone())
    }
}
