# hubshare: one image, either binary. Build:  docker build -t hubshare .
#   docker run hubshare server --config /etc/hubshare/server.toml
#   docker run hubshare peer --config /etc/hubshare/peer1.toml serve
# compose.yaml starts a directory and three peers with it.

# Build stage: grpcio compiles the gRPC C core with CMake and g++, its TLS
# linked to Debian's OpenSSL.
FROM rust:1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake g++ libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin server --bin peer --bin relay

# Run stage: a slim base, a user without privileges, curl for health checks.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --create-home --home-dir /data hubshare
COPY --from=build /src/target/release/server /src/target/release/peer /src/target/release/relay /usr/local/bin/
COPY docker/entrypoint.sh /usr/local/bin/hubshare
COPY docker/*.toml /etc/hubshare/
USER hubshare
WORKDIR /data
# gRPC directory, a peer's HTTP port, the directory's status/metrics port.
EXPOSE 50051 7001 9100
ENTRYPOINT ["hubshare"]
CMD ["server", "--config", "/etc/hubshare/server.toml"]
