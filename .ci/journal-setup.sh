#!/bin/sh
# Test prerequisites of crates/journal (run as root before `cargo test`).
#
# * systemd + systemd-journal-remote (Debian 12: systemd 252) provide
#   journalctl (the oracle) and systemd-journal-remote (writes real journal
#   files from export format on stdin).
# * systemd 252 has no $SYSTEMD_JOURNAL_COMPRESS (added in 253), so XZ and LZ4
#   compressed files need a newer journal-remote: the bookworm-backports
#   packages (systemd 254) are downloaded with apt and only unpacked into
#   /opt/ferrotail-journal/systemd-bpo (nothing is installed system-wide;
#   the host's systemd stays as it is). The tests find it there or through
#   $FERROTAIL_JOURNAL_SYSTEMD_BPO.
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq systemd systemd-journal-remote >/dev/null

DEST=/opt/ferrotail-journal/systemd-bpo
if [ ! -x "$DEST/lib/systemd/systemd-journal-remote" ]; then
    . /etc/os-release
    if [ "${VERSION_CODENAME:-}" = bookworm ]; then
        work=$(mktemp -d)
        chmod 755 "$work"
        mkdir -p "$work/lists/partial" "$work/debs"
        echo "deb http://deb.debian.org/debian bookworm-backports main" >"$work/sources.list"
        APT="-o Dir::Etc::SourceList=$work/sources.list -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists=$work/lists"
        # shellcheck disable=SC2086
        apt-get $APT update -qq
        # shellcheck disable=SC2086
        (cd "$work/debs" && apt-get $APT download -qq \
            systemd-journal-remote/bookworm-backports \
            systemd/bookworm-backports \
            libsystemd-shared/bookworm-backports)
        mkdir -p "$DEST"
        for d in "$work"/debs/*.deb; do dpkg -x "$d" "$DEST"; done
        rm -rf "$work"
    fi
fi
