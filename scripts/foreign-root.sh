#!/usr/bin/env bash
# A Debian 12 minbase root of another architecture with Debian's own nodejs in
# it, for running the ARM prebuilds under qemu-user (qemu-ARCH-static -L ROOT
# ROOT/usr/bin/node ...): no binfmt_misc, no chroot, nothing configured; the
# root is only read from. Made once; a finished root is reused.
#   scripts/foreign-root.sh arm64|armhf DIR
# Needs root (debootstrap), debootstrap and dpkg-deb; CAMWIRE_DEBIAN_MIRROR
# overrides the mirror (default http://deb.debian.org/debian).
set -euo pipefail
arch=${1:?usage: $0 arm64|armhf DIR}
dir=${2:?usage: $0 arm64|armhf DIR}
mirror=${CAMWIRE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
if [ -x "$dir/usr/bin/node" ] && [ -f "$dir/.camwire-root-done" ]; then exit 0; fi
command -v debootstrap >/dev/null || PATH="$PATH:/usr/sbin:/sbin"
command -v debootstrap >/dev/null || { echo "debootstrap not found: apt-get install debootstrap" >&2; exit 1; }
partial="$dir.partial"
rm -rf "$partial" "$dir"
mkdir -p "$(dirname "$dir")"
# The first stage downloads everything and unpacks the base; running the
# second stage would need the foreign binaries to run, so unpack the rest
# (nodejs and its libraries) the same way instead.
debootstrap --foreign --arch="$arch" --variant=minbase --include=nodejs bookworm "$partial" "$mirror" >"$partial.log" 2>&1 \
  || { tail -20 "$partial.log" >&2; exit 1; }
for deb in "$partial"/var/cache/apt/archives/*.deb; do dpkg-deb -x "$deb" "$partial"; done
rm -f "$partial"/var/cache/apt/archives/*.deb "$partial.log"
[ -x "$partial/usr/bin/node" ] || { echo "no usr/bin/node in the $arch root" >&2; exit 1; }
touch "$partial/.camwire-root-done"
mv "$partial" "$dir"
