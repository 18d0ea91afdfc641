# syntax=docker/dockerfile:1
#
# The Keyward image: `keyward run`, the cluster mode, by default.
#
#   docker build -t registry.example.com/platform/keyward:0.1.0 .
#
# Needs BuildKit (the default builder of Docker 23+ and of buildx) for the
# cache mounts. Without Docker: image/build.sh builds the same image (the
# runtime stage's base rebuilt from Debian packages, this stage's config read
# from this file) and .ci/image.sh runs it; see docs/deploy.md. Keep the
# runtime stage to FROM, LABEL, COPY, USER, EXPOSE, ENTRYPOINT, CMD in exec
# form: image/assemble.py refuses what it cannot reproduce.

# Same toolchain as CI (rust-version in Cargo.toml is the floor: 1.89). The
# builder's Debian release must match the runtime's (bookworm = debian12): the
# binary links that release's glibc.
ARG RUST_VERSION=1.95
FROM rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /src
COPY . .
# The registry, git checkouts and target/ live in BuildKit cache mounts, so a
# rebuild after a source change recompiles only what changed. target/ is a
# cache mount, not part of the layer: the binary is copied out in the same RUN.
# aws-lc-sys (the crypto provider, through aws-lc-rs) compiles C with the
# image's gcc; no cmake or clang is needed on x86_64 and aarch64 Linux.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --bin keyward \
 && install -D -m 0755 target/release/keyward /out/keyward

# distroless/cc: glibc, libgcc and CA certificates, no shell, no package
# manager. The binary is dynamically linked against glibc because aws-lc-rs
# builds AWS-LC from C; why not static: docs/deploy.md, "Static linking".
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="keyward" \
      org.opencontainers.image.description="OAuth 2.1 / OpenID authorization server and Kubernetes operator for AI agents and MCP servers" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/keyward /keyward
# nonroot (65532:65532), given by number: with a user name Kubernetes cannot
# verify runAsNonRoot and refuses to start the container. No volumes: the root
# filesystem can be read-only.
USER 65532:65532
# 8080: OAuth endpoints, /healthz, /readyz. 9090: /metrics, /healthz, /readyz.
EXPOSE 8080 9090
ENTRYPOINT ["/keyward"]
CMD ["run"]
