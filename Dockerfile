# syntax=docker/dockerfile:1
# The feddns image: `docker build -t <registry>/feddns:<tag> .` (BuildKit; the cache mounts keep
# the cargo registry and the target directory between builds). One binary for every role:
# `feddns run` on the host cluster (deploy/host), `feddns stub` in the members (deploy/stub).

# Build: the toolchain of rust-version in Cargo.toml, the versions of Cargo.lock.
FROM rust:1.95-slim-bookworm AS builder
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin feddns \
    && cp target/release/feddns /feddns

# Run: glibc and CA certificates (the AWS and Google clients verify TLS with them), no shell,
# no package manager, the unprivileged user 65532 ("nonroot") that deploy/ runs as.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /feddns /feddns
USER 65532:65532
# The admin port (/metrics, /healthz, /readyz, /status); the embedded DNS provider and the stub
# listen where their configuration says (5353 in deploy/).
EXPOSE 9090
ENTRYPOINT ["/feddns"]
