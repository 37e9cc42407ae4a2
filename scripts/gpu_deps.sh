#!/usr/bin/env bash
# Copies the development files of the apt packages that the GPU machine lacks (liburing, utf8proc,
# PCRE2: headers, static libraries, pkg-config files) from this machine's installed
# packages (scripts/setup.sh) into DEST/usr, for scripts/gpu_suite.sh with FS_GPU_DEPS=DEST.
# The GPU machine has no package registry; DEST travels with the working tree.
# Usage: scripts/gpu_deps.sh DEST
set -euo pipefail
dest=${1:?usage: scripts/gpu_deps.sh DEST}
for pkg in liburing-dev libpcre2-dev libutf8proc-dev; do
  dpkg -L "$pkg" | while read -r f; do
    case "$f" in
      */include/*.h | */liburing.a | */libpcre2-8.a | */libutf8proc.a | */pkgconfig/liburing.pc | */pkgconfig/libpcre2-8.pc | */pkgconfig/libutf8proc.pc)
        [[ -f "$f" ]] && install -D -m 0644 "$f" "$dest$f" ;;
    esac
  done
done
# cpp-httplib: its shared library (runtime: DEST/usr/lib/x86_64-linux-gnu on LD_LIBRARY_PATH) and a
# pkg-config file without Requires.private (those are the GPU machine's own OpenSSL, zlib, brotli).
lib=/usr/lib/x86_64-linux-gnu
install -D -m 0644 /usr/include/httplib.h "$dest/usr/include/httplib.h"
cp -P "$lib"/libcpp-httplib.so* "$dest/usr/lib/x86_64-linux-gnu/"
mkdir -p "$dest$lib/pkgconfig"
# Its header calls brotli (headers and libraries copied too), zlib and OpenSSL inline.
cp -r /usr/include/brotli "$dest/usr/include/"
cp -P "$lib"/libbrotli*.so* "$dest$lib/"
grep -v '^Requires.private' "$lib/pkgconfig/cpp-httplib.pc" |
  sed 's/^Libs: .*/& -lbrotlienc -lbrotlidec -lbrotlicommon -lz -lssl -lcrypto/' >"$dest$lib/pkgconfig/cpp-httplib.pc"
# GoogleTest for cuda_tests: headers, static libraries, CMake package files.
dpkg -L libgtest-dev | while read -r f; do
  case "$f" in
    */include/gtest/* | */libgtest*.a | */cmake/GTest/*) [[ -f "$f" ]] && install -D -m 0644 "$f" "$dest$f" ;;
  esac
done
# PKG_CONFIG_SYSROOT_DIR also prefixes the GPU machine's own packages (libcurl): their multiarch
# include folder must exist under DEST (the compiler searches the real one anyway).
mkdir -p "$dest/usr/include/x86_64-linux-gnu"
echo "copied into $dest/usr: $(find "$dest/usr" -type f | wc -l) files"
