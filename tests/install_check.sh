#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install into a scratch prefix and build a program the way users do:
# #include <respio.h> and `pkg-config respio`, against the shared and the
# static library.
# install_check.sh BUILD_DIR EXAMPLE.c [B_SANITIZE]
set -eu
build=$1 example=$2 sanitize=${3:-none}
if [ "$sanitize" != none ]; then
	# An instrumented library needs the sanitizer's runtime in every
	# program; users get the plain build.
	echo "skipped: a $sanitize build is not what users install"
	exit 77
fi
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
meson install -C "$build" --no-rebuild --destdir "$dest" --quiet >/dev/null
pc=$(dirname "$(find "$dest" -name respio.pc | head -n 1)")
export PKG_CONFIG_PATH=$pc
prefix=$(pkg-config --variable=prefix respio)
flags=(--define-variable=prefix="$dest$prefix")
cc -o "$dest/app" "$example" $(pkg-config "${flags[@]}" --cflags --libs respio)
LD_LIBRARY_PATH=$(pkg-config "${flags[@]}" --variable=libdir respio) ldd "$dest/app" | grep -q librespio
cc -o "$dest/app-static" "$example" $(pkg-config "${flags[@]}" --cflags respio) \
	"$(pkg-config "${flags[@]}" --variable=libdir respio)/librespio.a" \
	$(pkg-config "${flags[@]}" --static --libs liburing ck) -pthread
echo "installed headers, pkg-config file, shared and static library: ok"
