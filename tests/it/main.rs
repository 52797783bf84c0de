//! End-to-end tests of buildhooks: the real server on 127.0.0.1:0, real receivers, and a real
//! database (SQLite by default; PostgreSQL when `BUILDHOOKS_TEST_DATABASE_URL` is set).

mod api_compat;
mod audit;
mod backlog;
mod bad_input;
mod brokers;
mod browser;
mod browser_brokers;
mod browser_chat;
mod browser_format;
mod browser_graphiql;
mod browser_inbound;
mod build_flow;
mod chat;
mod cirrus_fields;
mod cirrus_format;
mod cirrus_ops;
mod cli;
mod concurrency;
mod delivery;
mod durability;
mod fairness;
mod group_commit;
mod inbound;
mod nesting;
mod outage;
mod outbox;
mod pagination;
mod payload;
mod retention;
mod schema_tooling;
mod settings;
mod ssrf;
mod tenancy;
mod transitions;
mod utils;
