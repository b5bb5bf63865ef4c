# syntax=docker/dockerfile:1.7
#
# DeltaStream: one image, one binary (`deltastream`), every component selected by
# its subcommand (feed, enrich, project, gateway, topology apply, replay, ...).
#
#   docker build -t deltastream:local .
#   docker run --rm deltastream:local --help
#
# The builder caches the cargo registry, git checkouts and target/ in BuildKit
# cache mounts, so a rebuild after a source change only recompiles the workspace.
# Protobuf is compiled by a pure-Rust compiler (protox), so no protoc is needed;
# nats/ (topology), schemas/ and gateway/assets/ are embedded into the binary.

ARG RUST_VERSION=1
ARG DEBIAN_RELEASE=bookworm

# ---------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS builder
WORKDIR /src
# The image ships without the debug info the release profile asks for locally;
# symbol names stay, so backtraces remain readable.
ENV CARGO_PROFILE_RELEASE_DEBUG=0 \
    CARGO_TERM_COLOR=never \
    CARGO_INCREMENTAL=0
COPY . .
RUN --mount=type=cache,id=deltastream-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=deltastream-cargo-git,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,id=deltastream-target,target=/src/target,sharing=locked \
    cargo build --release --locked -p deltastream \
 && install -D -m 0755 target/release/deltastream /out/deltastream \
 && /out/deltastream --help >/dev/null

# ---------------------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE}-slim AS runtime
ARG DS_UID=10001
# Unpinned on purpose (hadolint DL3008): Debian replaces a stable package's
# version with each point or security release, so a pinned ca-certificates
# would break the build; the base image tag already fixes the release.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid "${DS_UID}" deltastream \
 && useradd --system --uid "${DS_UID}" --gid "${DS_UID}" --home-dir /var/lib/deltastream \
      --create-home --shell /usr/sbin/nologin deltastream
COPY --from=builder --chown=root:root /out/deltastream /usr/local/bin/deltastream

LABEL org.opencontainers.image.title="deltastream" \
      org.opencontainers.image.description="Real-time option-market analytics on NATS JetStream and MongoDB" \
      org.opencontainers.image.licenses="Apache-2.0"

# Container-friendly defaults; every one can be overridden per service.
ENV DS_HTTP_ADDR=0.0.0.0:8080 \
    DS_LOG_JSON=1 \
    RUST_LOG=info

WORKDIR /var/lib/deltastream
USER 10001:10001
# 8080: gateway (REST, WebSocket, /metrics, /health/*)
# 9464: processors' DS_METRICS_ADDR (/metrics, /health/live, /health/ready)
EXPOSE 8080 9464
# No HEALTHCHECK: the probed port depends on the subcommand; docker-compose.yml
# and the Kubernetes manifests define per-service health checks instead.
ENTRYPOINT ["deltastream"]
CMD ["--help"]
