# portcullis: an access gateway, run as a sidecar in front of your app.
#   docker build -t portcullis .
#   docker run --rm -p 8080:8080 -e PORTCULLIS_UPSTREAM=http://app:8000 \
#     -e PORTCULLIS_ADMIN_TOKEN=... portcullis
# Configuration: docs/deploy.md.

FROM rust:1.95-bookworm AS build
WORKDIR /build
# Dependencies first, in their own layer: it is rebuilt only when
# Cargo.toml or Cargo.lock change, not on every source edit.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src benches \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && echo 'fn main() {}' > benches/hot_path.rs \
 && cargo build --release --locked \
 && rm -rf src benches
COPY src ./src
COPY benches ./benches
# Envoy's ext_authz protos, compiled by build.rs (no protoc needed).
COPY build.rs ./
COPY proto ./proto
# The shipped config is built into the binary (for `demo`).
COPY config ./config
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked \
 && cp target/release/portcullis /portcullis

# distroless/cc: glibc, libgcc and CA certificates; no shell, no package
# manager. Runs as the image's nonroot user, uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /portcullis /usr/local/bin/portcullis
COPY config/portcullis.toml /etc/portcullis/portcullis.toml
# In a container the gateway must listen on every interface; the app it
# guards listens on 127.0.0.1 in the same pod.
ENV PORTCULLIS_CONFIG=/etc/portcullis/portcullis.toml \
    PORTCULLIS_LISTEN=0.0.0.0:8080 \
    PORTCULLIS_ADMIN_LISTEN=0.0.0.0:9901 \
    PORTCULLIS_LOG_FORMAT=json \
    RUST_LOG=info
USER 65532:65532
EXPOSE 8080 9901
HEALTHCHECK --interval=10s --timeout=4s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/portcullis", "healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/portcullis"]
CMD ["serve"]
