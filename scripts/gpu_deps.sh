#!/usr/bin/env bash
# Copies the development files of the apt packages that the GPU machine lacks (liburing,
# PCRE2: headers, static libraries, pkg-config files) from this machine's installed
# packages (scripts/setup.sh) into DEST/usr, for scripts/gpu_suite.sh with FS_GPU_DEPS=DEST.
# The GPU machine has no package registry; DEST travels with the working tree.
# Usage: scripts/gpu_deps.sh DEST
set -euo pipefail
dest=${1:?usage: scripts/gpu_deps.sh DEST}
for pkg in liburing-dev libpcre2-dev; do
  dpkg -L "$pkg" | while read -r f; do
    case "$f" in
      */include/*.h | */liburing.a | */libpcre2-8.a | */pkgconfig/liburing.pc | */pkgconfig/libpcre2-8.pc)
        [[ -f "$f" ]] && install -D -m 0644 "$f" "$dest$f" ;;
    esac
  done
done
echo "copied into $dest/usr: $(find "$dest/usr" -type f | wc -l) files"
