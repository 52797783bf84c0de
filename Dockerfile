# buildhooks server image: a release build of the `buildhooks` binary on a slim Debian.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p buildhooks --bin buildhooks

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/buildhooks /usr/local/bin/buildhooks
ENV BUILDHOOKS_LISTEN=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["buildhooks"]
CMD ["serve"]
