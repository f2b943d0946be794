#!/usr/bin/env bash
# Builds the ferrotail image on a machine that cannot pull base images: a statically linked
# binary is built on the host, then packed into an image `FROM scratch` (which needs no pull),
# laid out exactly as the Dockerfile's final stage.
#
#   scripts/docker-image-local.sh [IMAGE]     (default IMAGE: ferrotail:local)
#
# Static build, first that works:
#   1. musl: `rustup target add x86_64-unknown-linux-musl` + Debian's musl-tools (musl-gcc, for
#      the C parts of ring), `cargo build --release --target x86_64-unknown-linux-musl`;
#   2. glibc: `RUSTFLAGS=-C target-feature=+crt-static`, `--target x86_64-unknown-linux-gnu`
#      (works, but glibc's static getaddrinfo cannot load NSS modules: host names resolve only
#      through /etc/hosts and DNS).
# FERROTAIL_STATIC=glibc skips the musl attempt. Prints which one was used and the image size
# (the target is at most 15 MB).
set -euo pipefail

IMAGE="${1:-ferrotail:local}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
ARCH="$(uname -m)"
log() { echo "docker-image-local: $*" >&2; }

bin=""
how=""
musl="$ARCH-unknown-linux-musl"
if [ "${FERROTAIL_STATIC:-}" = glibc ]; then
    log "FERROTAIL_STATIC=glibc: not trying musl"
elif rustup target list --installed 2>/dev/null | grep -qx "$musl" || rustup target add "$musl" >/dev/null 2>&1; then
    if ! command -v musl-gcc >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
        log "installing musl-tools"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq musl-tools >/dev/null 2>&1 ||
            { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq musl-tools >/dev/null 2>&1; } || true
    fi
    if command -v musl-gcc >/dev/null 2>&1; then
        log "building with --target $musl"
        if env "CC_${musl//-/_}=musl-gcc" cargo build --release --locked --target "$musl" --bin ferrotail; then
            bin="$TARGET_DIR/$musl/release/ferrotail"
            how="musl ($musl)"
        fi
    else
        log "musl-gcc not available"
    fi
else
    log "rustup target $musl not available"
fi
if [ -z "$bin" ]; then
    gnu="$ARCH-unknown-linux-gnu"
    log "falling back to static glibc (--target $gnu, +crt-static)"
    RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
        cargo build --release --locked --target "$gnu" --bin ferrotail
    bin="$TARGET_DIR/$gnu/release/ferrotail"
    how="static glibc ($gnu, +crt-static)"
fi

if ldd "$bin" 2>&1 | grep -qv -e 'not a dynamic' -e 'statically linked'; then
    log "$bin is not statically linked:"
    ldd "$bin" >&2 || true
    exit 1
fi

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/rootfs/usr/bin" "$ctx/rootfs/etc/ssl/certs" "$ctx/rootfs/etc/promtail" \
    "$ctx/rootfs/tmp" "$ctx/rootfs/var/log"
cp "$bin" "$ctx/rootfs/usr/bin/ferrotail"
ln -s ferrotail "$ctx/rootfs/usr/bin/promtail"
chmod 1777 "$ctx/rootfs/tmp"
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    cp /etc/ssl/certs/ca-certificates.crt "$ctx/rootfs/etc/ssl/certs/"
fi
cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY rootfs/ /
ENTRYPOINT ["/usr/bin/ferrotail"]
CMD ["-config.file=/etc/promtail/config.yml"]
DOCKERFILE
docker build -q -t "$IMAGE" "$ctx" >/dev/null
size="$(docker image inspect -f '{{.Size}}' "$IMAGE")"
log "built $IMAGE with a $how binary: $((size / 1024)) KiB"
if [ "$size" -gt $((15 * 1024 * 1024)) ]; then
    log "image is larger than 15 MB"
    exit 1
fi
echo "$how"
