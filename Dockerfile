# buildhooks server image: a release build of the `buildhooks` binary on a slim Debian, run as
# an unprivileged user (uid 10001) whose home is the data directory (the SQLite default
# `sqlite://buildhooks.db` and its `.key` file land there; mount a volume on it to keep them).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p buildhooks --bin buildhooks

FROM debian:bookworm-slim
# ca-certificates unpinned on purpose: it should carry the latest roots at every build.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 buildhooks \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/buildhooks --create-home \
        --shell /usr/sbin/nologin buildhooks
COPY --from=build /src/target/release/buildhooks /usr/local/bin/buildhooks
WORKDIR /var/lib/buildhooks
VOLUME /var/lib/buildhooks
ENV BUILDHOOKS_LISTEN=0.0.0.0:8080
EXPOSE 8080
# Numeric, so a runtime that requires a non-root user (runAsNonRoot) can tell without /etc/passwd.
USER 10001:10001
# The image has no curl: bash's /dev/tcp sends `GET /healthz` to the port of BUILDHOOKS_LISTEN
# and the check passes on a 200 status line (HEALTHCHECK's timeout ends a server that hangs).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${BUILDHOOKS_LISTEN##*:} && printf 'GET /healthz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["buildhooks"]
CMD ["serve"]
