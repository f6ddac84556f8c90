# The Debian trixie chroot that runs Swift 6 (trixie's swiftlang) on this
# Debian 12 host. Made once per machine (about two minutes and 3 GB) and
# reused when present. Sourced by ios/linux-test/run.
#
#   swift_chroot_ensure      make it (debootstrap + apt-get install swiftlang)
#   swift_chroot_mount       mount /proc inside; unmounted by swift_chroot_umount
#   swift_chroot_umount
#
# The place can be moved with ANPI_SWIFT_CHROOT.
SWIFT_CHROOT=${ANPI_SWIFT_CHROOT:-/var/cache/anpi/swift-trixie}
SWIFT_CHROOT_MOUNTS=()

swift_chroot_as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

swift_chroot_ensure() {
  # dpkg's list, not the binary: /usr/bin/swift is an absolute symlink that
  # only resolves inside the chroot.
  if [ -f "$SWIFT_CHROOT/var/lib/dpkg/info/swiftlang.list" ]; then
    return 0
  fi
  command -v debootstrap >/dev/null 2>&1 || {
    echo "== installing debootstrap"
    swift_chroot_as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive swift_chroot_as_root apt-get install -y -qq debootstrap >/dev/null
  }
  # A half-made chroot from an interrupted run is started over.
  if [ ! -e "$SWIFT_CHROOT/.debootstrap-done" ]; then
    echo "== making a Debian trixie chroot for Swift in $SWIFT_CHROOT (once per machine)"
    swift_chroot_as_root rm -rf "$SWIFT_CHROOT"
    swift_chroot_as_root mkdir -p "$SWIFT_CHROOT"
    swift_chroot_as_root debootstrap --variant=minbase trixie "$SWIFT_CHROOT" >"${TMPDIR:-/tmp}/anpi-debootstrap.log" 2>&1 || {
      tail -20 "${TMPDIR:-/tmp}/anpi-debootstrap.log"
      echo "debootstrap of trixie into $SWIFT_CHROOT failed"
      return 1
    }
    swift_chroot_as_root touch "$SWIFT_CHROOT/.debootstrap-done"
  fi
  echo "== installing swiftlang in the chroot (once per machine)"
  swift_chroot_mount
  swift_chroot_as_root chroot "$SWIFT_CHROOT" /bin/sh -c \
    'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends swiftlang libc6-dev >/dev/null'
  local rc=$?
  swift_chroot_umount
  return $rc
}

swift_chroot_mount() {
  local target=$SWIFT_CHROOT/proc
  if ! mountpoint -q "$target"; then
    swift_chroot_as_root mount -t proc proc "$target"
    SWIFT_CHROOT_MOUNTS+=("$target")
  fi
}

swift_chroot_umount() {
  local m
  for m in "${SWIFT_CHROOT_MOUNTS[@]}"; do
    swift_chroot_as_root umount "$m" 2>/dev/null || swift_chroot_as_root umount -l "$m" || true
  done
  SWIFT_CHROOT_MOUNTS=()
}
