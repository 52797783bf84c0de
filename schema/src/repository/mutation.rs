//! `createRepository`.

use async_graphql::{Context, InputObject, Object, ResultExt, SimpleObject};
use buildhooks_entity::repository;
use buildhooks_store::orgs;
use sea_orm::Set;

use crate::clock::now_ms;
use crate::ctx::{store, viewer};
use crate::error::{Error, Result};
use crate::graph::Repository;
use crate::webhook::outbox::commit_audited;

#[derive(InputObject)]
pub struct CreateRepositoryInput {
    pub name: String,
    #[graphql(default)]
    pub is_private: bool,
    pub default_branch: Option<String>,
    pub client_mutation_id: Option<String>,
}

#[derive(SimpleObject)]
pub struct CreateRepositoryPayload {
    pub repository: Repository,
    pub client_mutation_id: Option<String>,
}

fn check_name(field: &str, value: &str) -> Result<()> {
    let ok = !value.is_empty()
        && value.len() <= 100
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    if ok {
        Ok(())
    } else {
        Err(Error::field(
            field,
            "must be 1 to 100 characters of letters, digits, '-', '_', '.', '/'",
        ))
    }
}

#[derive(Default)]
pub struct RepositoryMutation;

#[Object]
impl RepositoryMutation {
    /// Creates a repository in the viewer's organization.
    async fn create_repository(
        &self,
        ctx: &Context<'_>,
        input: CreateRepositoryInput,
    ) -> async_graphql::Result<CreateRepositoryPayload> {
        async {
            let viewer = viewer(ctx)?;
            let name = input.name.trim().to_owned();
            check_name("name", &name)?;
            let branch = input.default_branch.unwrap_or_else(|| "main".into());
            check_name("defaultBranch", &branch)?;
            let store = store(ctx)?;
            let w = store.begin_write().await?;
            let taken = orgs::repo_named(w.txn(), viewer.org_id, &name).await?;
            if taken.is_some() {
                return Err(Error::field(
                    "name",
                    "a repository with this name already exists",
                ));
            }
            let row = repository::ActiveModel {
                org_id: Set(viewer.org_id),
                name: Set(name),
                is_private: Set(input.is_private),
                default_branch: Set(branch),
                created_at: Set(now_ms()),
                ..Default::default()
            };
            let model = orgs::insert_repo(w.txn(), row).await?;
            commit_audited(ctx, w, viewer.org_id, Some(model.id)).await?;
            Ok(CreateRepositoryPayload {
                repository: model.into(),
                client_mutation_id: input.client_mutation_id,
            })
        }
        .await
        .extend()
    }
}
