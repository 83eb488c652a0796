# syntax=docker/dockerfile:1
# Multi-stage build: compile in the Rust image, run in a slim Debian as a non-root user.

FROM rust:1.95-bookworm AS build
WORKDIR /src
# Dependencies first, so source edits do not rebuild them: every workspace member's manifest
# (fuzz/ is excluded from the workspace and from the context) and a stub for every target the
# manifests declare or cargo infers, so cargo can load the workspace. No `|| true`: a broken
# caching step must fail the build, not silently cache nothing.
COPY Cargo.toml Cargo.lock ./
COPY crates/ingest/Cargo.toml crates/ingest/
COPY bench/load/Cargo.toml bench/load/
RUN mkdir -p src/bin tests/api crates/ingest/src bench/load/src \
    && echo 'fn main() {}' > src/main.rs \
    && echo 'fn main() {}' > src/bin/bootstrap.rs \
    && echo 'fn main() {}' > tests/api/main.rs \
    && echo 'fn main() {}' > bench/load/src/main.rs \
    && touch src/lib.rs crates/ingest/src/lib.rs \
    && cargo build --release --locked --package shoplake --bin shoplake \
    && cargo clean --release --package shoplake --package shoplake-ingest \
    && rm -rf src tests crates/ingest/src bench/load/src
# The stubs' artifacts are gone (cargo clean above), so the workspace crates are compiled from
# the real sources whatever their timestamps; only third-party dependencies come from the cache.
COPY . .
RUN cargo build --release --locked --package shoplake --bin shoplake \
    && cp target/release/shoplake /usr/local/bin/shoplake

FROM debian:bookworm-slim AS runtime
# Unpinned on purpose: the runtime should pick up Debian's security updates at each build.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 shoplake \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/shoplake --create-home shoplake \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/shoplake/data
COPY --from=build /usr/local/bin/shoplake /usr/local/bin/shoplake
USER 10001:10001
WORKDIR /var/lib/shoplake
ENV SHOPLAKE_LISTEN=0.0.0.0:8080 \
    SHOPLAKE_STORAGE=/var/lib/shoplake/data \
    SHOPLAKE_LOG_FORMAT=json
# Storage, the SQLite database (it follows SHOPLAKE_STORAGE: data/shoplake.db) and the generated
# development JWT secret all live in data/, created above owned by 10001 before USER and VOLUME:
# Docker copies that ownership into a new, empty named or anonymous volume. VOLUME keeps the
# database out of the container's copy-on-write layer even when no -v is given (a bind mount
# keeps the host directory's owner: chown it to 10001).
VOLUME ["/var/lib/shoplake/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["curl", "-fsS", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["/usr/local/bin/shoplake"]
CMD ["serve"]
