# SPDX-License-Identifier: MIT
# Shared set-up for tools/test and tools/demo: install what is missing, build.
# Sourced, not run.

respio_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

respio_packages=(
	build-essential meson ninja-build pkg-config
	liburing-dev libck-dev libcriterion-dev
	redis-server redis-sentinel redis-tools python3-redis
	libhiredis-dev gnuplot-nox
	clang libclang-rt-14-dev clang-format
)

# Install the Debian packages the project needs, only when one is missing.
respio_install_deps() {
	local missing=()
	for p in "${respio_packages[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "respio: installing ${missing[*]}" >&2
	local sudo=
	[ "$(id -u)" -ne 0 ] && sudo=sudo
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 &&
		$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			"${missing[@]}" >&2
}

# respio_build DIR [meson options...]: configure DIR once, then build it.
respio_build() {
	local dir=$1
	shift
	if [ ! -f "$respio_root/$dir/build.ninja" ]; then
		meson setup "$respio_root/$dir" "$respio_root" "$@" >&2 || return 1
	else
		meson configure "$respio_root/$dir" "$@" >/dev/null || return 1
	fi
	ninja -C "$respio_root/$dir" >&2
}
