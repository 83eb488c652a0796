# syntax=docker/dockerfile:1
# Multi-stage build: compile in the Rust image, run in a slim Debian as a non-root user.

FROM rust:1.95-bookworm AS build
WORKDIR /src
# Dependencies first, so source edits do not rebuild them.
COPY Cargo.toml Cargo.lock ./
COPY crates/ingest/Cargo.toml crates/ingest/
RUN mkdir -p src tests/api crates/ingest/src && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs tests/api/main.rs crates/ingest/src/lib.rs \
    && cargo build --release --locked --bin shoplake || true
COPY . .
RUN touch src/main.rs src/lib.rs crates/ingest/src/lib.rs && cargo build --release --locked --bin shoplake \
    && cp target/release/shoplake /usr/local/bin/shoplake

FROM debian:bookworm-slim AS runtime
# Unpinned on purpose: the runtime should pick up Debian's security updates at each build.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 shoplake \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/shoplake --create-home shoplake
COPY --from=build /usr/local/bin/shoplake /usr/local/bin/shoplake
USER 10001:10001
WORKDIR /var/lib/shoplake
ENV SHOPLAKE_LISTEN=0.0.0.0:8080 \
    SHOPLAKE_STORAGE=/var/lib/shoplake/data \
    SHOPLAKE_LOG_FORMAT=json
VOLUME ["/var/lib/shoplake/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["curl", "-fsS", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["/usr/local/bin/shoplake"]
CMD ["serve"]
