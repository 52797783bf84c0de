//! The GraphQL face of inbound sources: `createInboundSource`, `regenerateInboundSecret` and
//! `deleteInboundSource` (the secret is shown only in their answers), and the `InboundSource`
//! and `InboundRequest` (the inbound log) types that `OwnerInfo` lists.

use async_graphql::{Context, Enum, InputObject, Object, ResultExt, SimpleObject, ID};
use buildhooks_entity::{inbound_request, inbound_source};
use buildhooks_store::{inbound, orgs, WriteTxn};
use rand::RngCore;
use sea_orm::Set;

use super::kind;
use super::mapping::{Mapping, StatusWord};
use crate::clock::now_ms;
use crate::ctx::{parse_id, store, viewer};
use crate::error::{Error, Result};
use crate::status::BuildStatus;
use crate::webhook::outbox::commit_audited;
use crate::webhook::{secret, WebhookConfig};

/// Who calls a source.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum InboundSourceKind {
    Github,
    Gitlab,
    Generic,
}

impl InboundSourceKind {
    fn stored(self) -> &'static str {
        match self {
            InboundSourceKind::Github => kind::GITHUB,
            InboundSourceKind::Gitlab => kind::GITLAB,
            InboundSourceKind::Generic => kind::GENERIC,
        }
    }

    fn of(stored: &str) -> Self {
        match stored {
            kind::GITHUB => InboundSourceKind::Github,
            kind::GITLAB => InboundSourceKind::Gitlab,
            _ => InboundSourceKind::Generic,
        }
    }
}

/// What came of an inbound request.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum InboundResult {
    Applied,
    Duplicate,
    Ignored,
    Refused,
}

/// A sender's status word and the build status it means.
#[derive(InputObject, SimpleObject, Clone)]
#[graphql(input_name = "InboundStatusWordInput")]
pub struct InboundStatusWord {
    pub word: String,
    pub status: BuildStatus,
}

/// How a generic sender's JSON becomes a build: JSONPaths (RFC 9535, each naming one value).
#[derive(InputObject, SimpleObject, Clone)]
#[graphql(input_name = "InboundMappingInput")]
pub struct InboundMapping {
    pub external_id: String,
    pub status: String,
    pub statuses: Vec<InboundStatusWord>,
    pub repository: Option<String>,
    pub branch: Option<String>,
    pub commit: Option<String>,
    pub title: Option<String>,
    pub event_time: Option<String>,
}

impl From<InboundMapping> for Mapping {
    fn from(m: InboundMapping) -> Self {
        Mapping {
            external_id: m.external_id,
            status: m.status,
            statuses: m
                .statuses
                .into_iter()
                .map(|s| StatusWord {
                    word: s.word,
                    status: s.status,
                })
                .collect(),
            repository: m.repository,
            branch: m.branch,
            commit: m.commit,
            title: m.title,
            event_time: m.event_time,
        }
    }
}

impl From<Mapping> for InboundMapping {
    fn from(m: Mapping) -> Self {
        InboundMapping {
            external_id: m.external_id,
            status: m.status,
            statuses: m
                .statuses
                .into_iter()
                .map(|s| InboundStatusWord {
                    word: s.word,
                    status: s.status,
                })
                .collect(),
            repository: m.repository,
            branch: m.branch,
            commit: m.commit,
            title: m.title,
            event_time: m.event_time,
        }
    }
}

/// A hook that GitHub, GitLab or a generic JSON sender calls. Its secret is never shown here.
#[derive(SimpleObject, Clone)]
pub struct InboundSource {
    /// The unguessable id in the URL.
    pub id: ID,
    pub kind: InboundSourceKind,
    pub name: String,
    /// Where the sender posts: `/hooks/in/<id>`, absolute when the server knows its public URL.
    pub url: String,
    pub repository_id: Option<ID>,
    pub mapping: Option<InboundMapping>,
    /// A fingerprint of the secret (no character of it): tells two secrets apart.
    pub secret_hint: String,
    pub has_signing_secret: bool,
    pub created_timestamp: f64,
}

impl InboundSource {
    pub(crate) fn of(row: inbound_source::Model, public_url: Option<&str>) -> Self {
        let path = format!("/hooks/in/{}", row.uid);
        let url = match public_url {
            Some(base) => format!("{}{path}", base.trim_end_matches('/')),
            None => path,
        };
        let mapping = row
            .mapping
            .as_deref()
            .and_then(|m| serde_json::from_str::<Mapping>(m).ok())
            .map(InboundMapping::from);
        InboundSource {
            id: ID(row.uid),
            kind: InboundSourceKind::of(&row.kind),
            name: row.name,
            url,
            repository_id: row.repository_id.map(|id| ID(id.to_string())),
            mapping,
            secret_hint: secret::mask(&row.secret),
            has_signing_secret: row.signing_secret.is_some(),
            created_timestamp: row.created_at as f64,
        }
    }
}

/// One row of the inbound log.
#[derive(SimpleObject, Clone)]
pub struct InboundRequest {
    pub id: ID,
    pub source_id: ID,
    pub received_timestamp: f64,
    pub event: String,
    pub delivery_id: Option<String>,
    pub result: InboundResult,
    pub reason: Option<String>,
    pub http_status: i32,
    pub build_id: Option<ID>,
    pub task_id: Option<ID>,
}

impl InboundRequest {
    pub(crate) fn of(row: inbound_request::Model, source_uid: String) -> Self {
        let result = match row.result.as_str() {
            "applied" => InboundResult::Applied,
            "duplicate" => InboundResult::Duplicate,
            "ignored" => InboundResult::Ignored,
            _ => InboundResult::Refused,
        };
        InboundRequest {
            id: ID(row.id.to_string()),
            source_id: ID(source_uid),
            received_timestamp: row.received_at as f64,
            event: row.event,
            delivery_id: row.delivery_id,
            result,
            reason: row.reason,
            http_status: row.http_status,
            build_id: row.build_id.map(|id| ID(id.to_string())),
            task_id: row.task_id.map(|id| ID(id.to_string())),
        }
    }
}

#[derive(InputObject)]
pub struct CreateInboundSourceInput {
    pub kind: InboundSourceKind,
    pub name: String,
    pub repository_id: Option<ID>,
    pub mapping: Option<InboundMapping>,
    /// GitLab only: also make a Standard Webhooks signing secret (`whsec_...`).
    #[graphql(default)]
    pub signing_secret: bool,
    pub client_mutation_id: Option<String>,
}

#[derive(InputObject)]
pub struct RegenerateInboundSecretInput {
    pub source_id: ID,
    pub client_mutation_id: Option<String>,
}

#[derive(InputObject)]
pub struct DeleteInboundSourceInput {
    pub source_id: ID,
    pub client_mutation_id: Option<String>,
}

/// A source with its secrets: the only answers that show them.
#[derive(SimpleObject)]
pub struct InboundSourceSecretPayload {
    pub source: InboundSource,
    /// GitHub's webhook secret, GitLab's secret token, or a generic sender's token.
    pub secret: String,
    /// A GitLab source's signing secret, when it has one.
    pub signing_secret: Option<String>,
    pub client_mutation_id: Option<String>,
}

#[derive(SimpleObject)]
pub struct DeleteInboundSourcePayload {
    pub deleted_source_id: ID,
    pub client_mutation_id: Option<String>,
}

/// Most sources per organization.
pub const MAX_SOURCES: usize = 100;

/// 32 random bytes as hex: a source's secret or token.
fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// 16 random bytes as hex: the unguessable id in a source's URL.
fn new_uid() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn public_url<'a>(ctx: &Context<'a>) -> Option<&'a str> {
    ctx.data_opt::<WebhookConfig>()
        .and_then(|c| c.public_url.as_deref())
}

/// Checks an input's shape; the mapping as JSON when it has one.
fn check(input: &CreateInboundSourceInput) -> Result<Option<String>> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::field("name", "must be 1 to 100 characters"));
    }
    if input.signing_secret && input.kind != InboundSourceKind::Gitlab {
        return Err(Error::field(
            "signingSecret",
            "only a GITLAB source has a signing secret",
        ));
    }
    match (&input.mapping, input.kind) {
        (Some(_), InboundSourceKind::Github | InboundSourceKind::Gitlab) => Err(Error::field(
            "mapping",
            "only a GENERIC source has a mapping; GitHub and GitLab payloads are read as documented",
        )),
        (None, InboundSourceKind::Generic) => Err(Error::field(
            "mapping",
            "a GENERIC source needs a mapping (externalId, status, statuses)",
        )),
        (Some(mapping), _) => {
            if mapping.repository.is_none() && input.repository_id.is_none() {
                return Err(Error::field(
                    "mapping.repository",
                    "give a path to the repository's name, or the source's repositoryId",
                ));
            }
            let mapping = Mapping::from(mapping.clone());
            mapping.check()?;
            Ok(Some(
                serde_json::to_string(&mapping).map_err(|e| Error::Internal(e.to_string()))?,
            ))
        }
        (None, _) => Ok(None),
    }
}

#[derive(Default)]
pub struct InboundMutation;

#[Object]
impl InboundMutation {
    /// Creates an inbound source; the answer is the only one that shows its secret.
    async fn create_inbound_source(
        &self,
        ctx: &Context<'_>,
        input: CreateInboundSourceInput,
    ) -> async_graphql::Result<InboundSourceSecretPayload> {
        async {
            let org_id = viewer(ctx)?.org_id;
            let mapping = check(&input)?;
            let store = store(ctx)?;
            let w = store.begin_write().await?;
            let repository_id = match &input.repository_id {
                Some(id) => {
                    let id = parse_id(id, "repository")?;
                    orgs::repo(w.txn(), org_id, id)
                        .await?
                        .ok_or(Error::NotFound("repository"))?;
                    Some(id)
                }
                None => None,
            };
            if inbound::sources_of_org(w.txn(), org_id, false).await?.len() >= MAX_SOURCES {
                return Err(Error::Validation(format!(
                    "an organization has at most {MAX_SOURCES} inbound sources"
                )));
            }
            let secret = new_secret();
            let signing_secret = input.signing_secret.then(secret::generate);
            let vault = store.vault();
            let (sealed_secret, sealed_signing) =
                super::sealed::sealed(vault, &secret, signing_secret.as_deref())?;
            let row = inbound_source::ActiveModel {
                uid: Set(new_uid()),
                org_id: Set(org_id),
                kind: Set(input.kind.stored().to_owned()),
                name: Set(input.name.trim().to_owned()),
                repository_id: Set(repository_id),
                mapping: Set(mapping),
                secret: Set(sealed_secret),
                signing_secret: Set(sealed_signing),
                deleted: Set(false),
                created_at: Set(now_ms()),
                ..Default::default()
            };
            let row = inbound::insert_source(w.txn(), row).await?;
            let row = super::sealed::opened(vault, row)?;
            commit_audited(ctx, w, org_id, row.repository_id).await?;
            Ok::<_, Error>(InboundSourceSecretPayload {
                source: InboundSource::of(row, public_url(ctx)),
                secret,
                signing_secret,
                client_mutation_id: input.client_mutation_id,
            })
        }
        .await
        .extend()
    }

    /// New secrets for a source (and a new signing secret, when it has one); the old ones stop
    /// working at once.
    async fn regenerate_inbound_secret(
        &self,
        ctx: &Context<'_>,
        input: RegenerateInboundSecretInput,
    ) -> async_graphql::Result<InboundSourceSecretPayload> {
        async {
            let org_id = viewer(ctx)?.org_id;
            let w = store(ctx)?.begin_write().await?;
            let row = own_source(&w, org_id, &input.source_id).await?;
            let secret = new_secret();
            let signing_secret = row.signing_secret.as_ref().map(|_| secret::generate());
            let (sealed_secret, sealed_signing) =
                super::sealed::sealed(store(ctx)?.vault(), &secret, signing_secret.as_deref())?;
            inbound::set_secrets(
                w.txn(),
                org_id,
                row.id,
                &sealed_secret,
                sealed_signing.as_deref(),
            )
            .await?;
            commit_audited(ctx, w, org_id, row.repository_id).await?;
            let row = inbound_source::Model {
                secret: secret.clone(),
                signing_secret: signing_secret.clone(),
                ..row
            };
            Ok::<_, Error>(InboundSourceSecretPayload {
                source: InboundSource::of(row, public_url(ctx)),
                secret,
                signing_secret,
                client_mutation_id: input.client_mutation_id,
            })
        }
        .await
        .extend()
    }

    /// Deletes a source: its URL answers 404 from now on; its builds and log stay.
    async fn delete_inbound_source(
        &self,
        ctx: &Context<'_>,
        input: DeleteInboundSourceInput,
    ) -> async_graphql::Result<DeleteInboundSourcePayload> {
        async {
            let org_id = viewer(ctx)?.org_id;
            let w = store(ctx)?.begin_write().await?;
            let row = own_source(&w, org_id, &input.source_id).await?;
            inbound::delete_source(w.txn(), org_id, row.id).await?;
            commit_audited(ctx, w, org_id, row.repository_id).await?;
            Ok::<_, Error>(DeleteInboundSourcePayload {
                deleted_source_id: ID(row.uid),
                client_mutation_id: input.client_mutation_id,
            })
        }
        .await
        .extend()
    }
}

/// Live source `id` of `org_id`, read in `w`; another organization's is `NOT_FOUND`, as a
/// missing one.
async fn own_source(w: &WriteTxn<'_>, org_id: i32, id: &ID) -> Result<inbound_source::Model> {
    inbound::source_in_org(w.txn(), org_id, id.as_str().trim())
        .await?
        .ok_or(Error::NotFound("inbound source"))
}

/// `OwnerInfo.inboundSources`: the organization's live sources, oldest first.
pub(crate) async fn sources_of(ctx: &Context<'_>, org_id: i32) -> Result<Vec<InboundSource>> {
    let store = store(ctx)?;
    let rows = inbound::sources_of_org(store.conn(), org_id, false).await?;
    let base = public_url(ctx);
    rows.into_iter()
        .map(|r| {
            Ok(InboundSource::of(
                super::sealed::opened(store.vault(), r)?,
                base,
            ))
        })
        .collect()
}

/// `OwnerInfo.inboundRequests`: the newest `last` (1 to 200) rows of the inbound log, of one
/// source when given.
pub(crate) async fn requests_of(
    ctx: &Context<'_>,
    org_id: i32,
    source_id: Option<&ID>,
    last: i32,
) -> Result<Vec<InboundRequest>> {
    if !(1..=200).contains(&last) {
        return Err(Error::field("last", "must be between 1 and 200"));
    }
    let conn = store(ctx)?.conn();
    let sources = inbound::sources_of_org(conn, org_id, true).await?;
    let source = match source_id {
        Some(uid) => Some(
            sources
                .iter()
                .find(|s| s.uid == uid.as_str().trim())
                .ok_or(Error::NotFound("inbound source"))?
                .id,
        ),
        None => None,
    };
    let rows = inbound::requests(conn, org_id, source, last as u64).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let uid = sources
                .iter()
                .find(|s| s.id == r.source_id)
                .map(|s| s.uid.clone())
                .unwrap_or_default();
            InboundRequest::of(r, uid)
        })
        .collect())
}
