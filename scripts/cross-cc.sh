#!/bin/sh
# C compiler for the prebuilt linux-x64-gnu core (scripts/build-prebuilt.js sets it as TARGET_CC).
# napi-rs's cross toolchain ships gcc 4.8.5, too old for C11 code such as mimalloc (no
# <stdatomic.h>, no -Wdate-time). The host's gcc compiles instead, against the toolchain's
# glibc 2.17 sysroot (TARGET_SYSROOT, exported by `napi build --use-napi-cross`), so the objects
# still reference only old glibc symbols; the toolchain's own gcc links them.
if [ -z "$TARGET_SYSROOT" ]; then
  echo "cross-cc.sh: TARGET_SYSROOT is not set (run through npm run build:prebuilt)" >&2
  exit 2
fi
exec "${KLIVE_HOST_CC:-gcc}" --sysroot="$TARGET_SYSROOT" "$@"
