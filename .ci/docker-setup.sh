#!/usr/bin/env bash
# Makes a working Docker daemon and the local test image available, idempotently.
#
# * installs Debian's docker.io and busybox-static when missing (one `apt-get update` first);
# * starts dockerd in the background when `docker info` fails (log: /tmp/dockerd.log) and waits,
#   bounded, until it answers;
# * builds `ferrotail-test-busybox:latest` with `docker import` of a tarball holding a static
#   busybox and its applet symlinks when the image is absent. No registry is reachable, so nothing
#   is ever pulled.
#
# Exit status: 0 when the daemon answers and the image exists, non-zero otherwise (tests that need
# Docker then skip with a notice). Safe to run several times and from several shells at once.
set -u

IMAGE="ferrotail-test-busybox:latest"
LOCK=/tmp/ferrotail-docker-setup.lock
WAIT_SECS="${DOCKER_SETUP_WAIT_SECS:-60}"

log() { echo "docker-setup: $*" >&2; }

exec 9>"$LOCK"
if command -v flock >/dev/null 2>&1; then
    flock -w 600 9 || { log "could not take $LOCK"; exit 1; }
fi

need_pkgs=()
command -v dockerd >/dev/null 2>&1 || need_pkgs+=(docker.io)
[ -x /bin/busybox ] && /bin/busybox --list >/dev/null 2>&1 && ldd /bin/busybox 2>&1 | grep -q 'not a dynamic' ||
    need_pkgs+=(busybox-static)
if [ "${#need_pkgs[@]}" -gt 0 ]; then
    log "installing ${need_pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/tmp/docker-setup-apt.log 2>&1 || log "apt-get update failed (see /tmp/docker-setup-apt.log)"
    apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >>/tmp/docker-setup-apt.log 2>&1 ||
        { log "apt-get install ${need_pkgs[*]} failed (see /tmp/docker-setup-apt.log)"; exit 1; }
fi

# The CLI may be a different build from the daemon (e.g. /usr/local/bin/docker); either works.
DOCKER="$(command -v docker || echo /usr/bin/docker)"

if ! timeout 10 "$DOCKER" info >/dev/null 2>&1; then
    if ! pgrep -x dockerd >/dev/null 2>&1; then
        log "starting dockerd (log: /tmp/dockerd.log)"
        # containerd is started by dockerd itself when no system containerd runs.
        # fd 9 (the lock) must not leak into the daemon, or the next run waits for it forever.
        nohup dockerd >/tmp/dockerd.log 2>&1 </dev/null 9>&- &
    fi
    for _ in $(seq 1 "$WAIT_SECS"); do
        timeout 5 "$DOCKER" info >/dev/null 2>&1 && break
        sleep 1
    done
    if ! timeout 10 "$DOCKER" info >/dev/null 2>&1; then
        log "dockerd did not become ready within ${WAIT_SECS}s; last lines of /tmp/dockerd.log:"
        tail -n 20 /tmp/dockerd.log >&2 2>/dev/null
        exit 1
    fi
fi

if ! "$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1; then
    log "building $IMAGE from /bin/busybox"
    root="$(mktemp -d)"
    trap 'rm -rf "$root"' EXIT
    mkdir -p "$root/bin" "$root/tmp" "$root/etc"
    cp /bin/busybox "$root/bin/busybox"
    for applet in $(/bin/busybox --list); do
        [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
    done
    echo 'root:x:0:0:root:/:/bin/sh' >"$root/etc/passwd"
    echo 'root:x:0:' >"$root/etc/group"
    tar -C "$root" -cf "$root.tar" . &&
        "$DOCKER" import \
            --change 'ENV PATH=/bin' \
            --change 'CMD ["/bin/sh"]' \
            "$root.tar" "$IMAGE" >/dev/null
    rc=$?
    rm -f "$root.tar"
    [ "$rc" -eq 0 ] || { log "docker import failed"; exit 1; }
fi

log "docker ready ($("$DOCKER" version --format '{{.Server.Version}}' 2>/dev/null)), image $IMAGE present"
