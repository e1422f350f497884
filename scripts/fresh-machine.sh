#!/usr/bin/env bash
# The README's two commands on a bare machine, as a new user has it: a Debian
# 12 minbase root made with debootstrap (libc, libstdc++, zlib, libudev; no
# compiler, no cmake, no libssl, libcurl or libusb), this machine's Node and
# npm copied in and nothing else, a clean clone of this repository's HEAD.
#
#   scripts/fresh-machine.sh demo    npm install && npx camwire demo   (the prebuild, no compiler; about 3 min)
#   scripts/fresh-machine.sh test    npm install && npm test, as root with CI=true:
#                                    npm test installs its own build tools and peers
#
# Environment: CAMWIRE_FRESH_DIR (default /var/tmp/camwire-fresh), CAMWIRE_FRESH_REF
# (what to clone, default HEAD), CAMWIRE_DEBIAN_MIRROR, CAMWIRE_FRESH_KEEP=1 (keep
# the root afterwards). Needs root, debootstrap and git on this machine.
# Only npm's own settings (registry, its CA file) are carried in, so the root
# reaches the same npm registry this machine does.
set -euo pipefail
mode=${1:-}
case "$mode" in demo|test) ;; *) echo "usage: $0 demo|test" >&2; exit 2 ;; esac
[ "$(id -u)" -eq 0 ] || { echo "fresh-machine: needs root (debootstrap, chroot)" >&2; exit 1; }
PATH="$PATH:/usr/sbin:/sbin"
for tool in debootstrap git chroot; do
  command -v "$tool" >/dev/null || { echo "fresh-machine: $tool not found (apt-get install debootstrap git)" >&2; exit 1; }
done

repo=$(cd "$(dirname "$0")/.." && pwd)
ref=${CAMWIRE_FRESH_REF:-HEAD}
mirror=${CAMWIRE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
base=${CAMWIRE_FRESH_DIR:-/var/tmp/camwire-fresh}
rootfs="$base/$mode"
log="$base/$mode.log"
mkdir -p "$base"

mounts=()
cleanup() {
  local i
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "${mounts[$i]}" 2>/dev/null || true; done
  if [ "${CAMWIRE_FRESH_KEEP:-}" != 1 ]; then rm -rf "$rootfs"; fi
}
trap cleanup EXIT
# A root left by a run that was killed: its mounts first, then the files.
for m in dev/pts dev sys proc; do umount -l "$rootfs/$m" 2>/dev/null || true; done
rm -rf "$rootfs"

elapsed() { echo $(( $(date +%s) - $1 )); }
say() { echo "fresh-machine[$mode]: $*"; }

t0=$(date +%s)
say "debootstrap --variant=minbase bookworm ($mirror)"
debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$log" 2>&1 || { tail -20 "$log" >&2; exit 1; }
say "minbase root in $(elapsed "$t0") s"

# Node: the binary and npm, nothing else from this machine.
node_bin=$(readlink -f "$(command -v node)")
npm_dir=$(readlink -f "$(npm root -g)/npm")
install -D -m 0755 "$node_bin" "$rootfs/usr/local/bin/node"
mkdir -p "$rootfs/usr/local/lib/node_modules"
cp -a "$npm_dir" "$rootfs/usr/local/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
cp /etc/hosts "$rootfs/etc/hosts"
# As in container images: packages installed later do not start services
# (the tests start their own, on 127.0.0.1).
printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
chmod 0755 "$rootfs/usr/sbin/policy-rc.d"

npm_env=("npm_config_registry=$(npm config get registry)" "npm_config_update_notifier=false" "npm_config_fund=false" "npm_config_audit=false")
cafile=$(npm config get cafile 2>/dev/null || true)
if [ -n "$cafile" ] && [ "$cafile" != null ] && [ "$cafile" != undefined ] && [ -f "$cafile" ]; then
  install -D -m 0644 "$cafile" "$rootfs/etc/camwire-fresh/npm-ca.pem"
  npm_env+=("npm_config_cafile=/etc/camwire-fresh/npm-ca.pem")
fi

git clone --quiet --no-hardlinks "$repo" "$rootfs/root/camwire"
git -C "$rootfs/root/camwire" checkout --quiet --detach "$(git -C "$repo" rev-parse "$ref")"
say "cloned $(git -C "$rootfs/root/camwire" log -1 --format='%h %s' | cut -c1-72)"

mount -t proc proc "$rootfs/proc"; mounts+=("$rootfs/proc")
mount --bind /dev "$rootfs/dev"; mounts+=("$rootfs/dev")
mount --bind /dev/pts "$rootfs/dev/pts"; mounts+=("$rootfs/dev/pts")
mount -t sysfs sysfs "$rootfs/sys"; mounts+=("$rootfs/sys")

inroot() {
  chroot "$rootfs" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 TERM=dumb CI=true "${npm_env[@]}" /bin/bash -c "cd /root/camwire && $1"
}

# What the root has before the README's commands: no compiler, no libcurl, libusb or libssl.
inroot '! command -v cc && ! command -v g++ && ! command -v cmake && ! ls /usr/lib/x86_64-linux-gnu/ | grep -E "^lib(curl|usb-1\.0|ssl)\.so"' >/dev/null \
  || { echo "fresh-machine: the root is not bare" >&2; exit 1; }

t1=$(date +%s)
say "npm install"
inroot 'npm install' 2>&1 | tee -a "$log" | sed "s/^/  /"
say "npm install took $(elapsed "$t1") s"

if [ "$mode" = demo ]; then
  # The prebuild, not a source build, is what the demo runs on.
  probe=$(inroot 'npx camwire --json probe')
  echo "$probe" | grep -q '"dependencies": "static"' || { echo "fresh-machine: not the prebuild: $probe" >&2; exit 1; }
  echo "$probe" | grep -q '"file": "/root/camwire/prebuilds/linux-x64/' || { echo "fresh-machine: not the prebuild: $probe" >&2; exit 1; }
  for m in kvs-mkv kvs-producer ptp-ip ptp-usb ptp-usb-virtual; do
    echo "$probe" | grep -q "\"$m\"" || { echo "fresh-machine: module $m missing: $probe" >&2; exit 1; }
  done
  [ ! -d "$rootfs/root/camwire/build" ] || { echo "fresh-machine: npm install built from source" >&2; exit 1; }
  inroot 'npx camwire probe' | sed "s/^/  /"
  t2=$(date +%s)
  say "npx camwire demo"
  inroot 'npx camwire demo' 2>&1 | tee -a "$log" | sed "s/^/  /"
  say "demo took $(elapsed "$t2") s"
else
  t2=$(date +%s)
  say "npm test (CI=true, as root: it installs its own peers)"
  inroot 'npm test' 2>&1 | tee -a "$log" | sed "s/^/  /"
  say "npm test took $(elapsed "$t2") s"
fi
say "passed in $(elapsed "$t0") s in all"
