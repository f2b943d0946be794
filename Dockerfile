# syntax=docker/dockerfile:1
# ferrotail: a drop-in replacement for the grafana/promtail image.
#
#   docker build -t ferrotail .
#   docker run -v ./promtail-config.yml:/etc/promtail/config.yml \
#              -v /var/lib/docker/containers:/var/lib/docker/containers:ro \
#              -v /var/run/docker.sock:/var/run/docker.sock ferrotail
#
# Stage 1 builds a fully static binary against musl; stage 2 is `scratch` with only that binary,
# CA certificates (for https Loki and Docker daemons) and the directories Promtail configs use
# (/tmp and /var/log for positions files, /etc/promtail for the config mount). The image is a few
# MB (Promtail's is about 135 MB). Without network access to a registry, use
# scripts/docker-image-local.sh, which builds the same final image from a host-built binary.

FROM rust:1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools ca-certificates \
 && rm -rf /var/lib/apt/lists/*
RUN rustup target add "$(uname -m)-unknown-linux-musl"
WORKDIR /src
COPY . .
RUN target="$(uname -m)-unknown-linux-musl" \
 && export CC_$(echo "$target" | tr - _)=musl-gcc \
 && cargo build --release --locked --target "$target" --bin ferrotail \
 && mkdir -p /out/usr/bin /out/etc/ssl/certs /out/etc/promtail /out/tmp /out/var/log \
 && cp "target/$target/release/ferrotail" /out/usr/bin/ferrotail \
 && ln -s ferrotail /out/usr/bin/promtail \
 && cp /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/ \
 && chmod 1777 /out/tmp

FROM scratch
COPY --from=build /out/ /
ENTRYPOINT ["/usr/bin/ferrotail"]
CMD ["-config.file=/etc/promtail/config.yml"]
