#!/bin/sh
# Builds the ferrotail Debian package with dpkg-deb (same contents as `cargo deb`, whose
# settings are [package.metadata.deb] in Cargo.toml).
#
#   deploy/host/build-deb.sh [OUT_DIR]
#
# The binary is $FERROTAIL_BIN, else target/release/ferrotail (built with `cargo build --release`
# when missing). Prints the path of the .deb.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-"$root/target/debian"}
bin=${FERROTAIL_BIN:-"$root/target/release/ferrotail"}
if [ ! -x "$bin" ]; then
    (cd "$root" && cargo build --release --locked >&2)
fi
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -n1)
arch=$(dpkg --print-architecture)
pkg=$(mktemp -d)
trap 'rm -rf "$pkg"' EXIT

install -D -m 0755 "$bin" "$pkg/usr/bin/ferrotail"
install -D -m 0644 "$here/ferrotail.service" "$pkg/lib/systemd/system/ferrotail.service"
install -D -m 0644 "$here/config.yml" "$pkg/etc/ferrotail/config.yml"
install -D -m 0644 "$root/README.md" "$pkg/usr/share/doc/ferrotail/README.md"
install -d -m 0755 "$pkg/DEBIAN"
install -m 0755 "$here/debian/postinst" "$here/debian/prerm" "$here/debian/postrm" "$pkg/DEBIAN/"
echo /etc/ferrotail/config.yml >"$pkg/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
cat >"$pkg/DEBIAN/control" <<CONTROL
Package: ferrotail
Version: $version
Architecture: $arch
Maintainer: ferrotail developers <ferrotail@localhost>
Installed-Size: $size
Depends: adduser
Section: admin
Priority: optional
Description: drop-in replacement for Grafana Promtail
 Reads an unchanged promtail-config.yml: tails log files and the systemd
 journal and ships them to Grafana Loki. Runs as the ferrotail user with
 the systemd-journal and adm groups; uses /etc/promtail/config.yml when it
 exists, else /etc/ferrotail/config.yml.
CONTROL
mkdir -p "$out"
deb="$out/ferrotail_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Z"${FERROTAIL_DEB_COMPRESS:-xz}" --build "$pkg" "$deb" >&2
echo "$deb"
