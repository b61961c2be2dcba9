# One image for every part: `rota up` (the default), `rota api`, `rota simulator`, `rota connect`,
# `rota broker`. Build: docker build -t rota .
ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
# librdkafka is compiled from source by rdkafka-sys (make, gcc and zlib come with the image).
# --ignore-rust-version: see the README (the broker's dependency rama declares Rust 1.96).
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --ignore-rust-version --package rota \
    && cp target/release/rota /usr/local/bin/rota

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install --yes --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 rota \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/rota --create-home rota
COPY --from=build /usr/local/bin/rota /usr/local/bin/rota
USER 10001:10001
WORKDIR /var/lib/rota
# Listen on every interface inside the container; the data directory is the user's home.
ENV ROTA_HTTP_ADDR=0.0.0.0:8080 \
    ROTA_DATA_DIR=/var/lib/rota
EXPOSE 8080
# /readyz of whichever part runs; the image has no curl, the binary asks.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["rota", "healthcheck"]
ENTRYPOINT ["rota"]
CMD ["up"]
