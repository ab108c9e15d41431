# Shared by scripts/run, scripts/test and .ci/run. Sourced, not executed.
# shellcheck shell=bash

MTK_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Debian packages the project builds, tests and runs with.
MTK_PACKAGES=(
	cmake make gcc pkg-config git
	libmicrohttpd-dev libssl-dev libcjson-dev libcriterion-dev libcurl4-openssl-dev
	curl openssl python3 python3-google-auth python3-requests python3-botocore
)

mtk_say() { printf '%s\n' "$*" >&2; }

# Installs whichever of MTK_PACKAGES (plus any extra names given) are missing.
# It says what it installs, uses sudo when not root, and runs apt-get update
# only when something is missing.
mtk_install_deps() {
	local missing=() p
	for p in "${MTK_PACKAGES[@]}" "$@"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
			missing+=("$p")
		fi
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	local sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		if ! command -v sudo >/dev/null; then
			mtk_say "metatoken: missing Debian packages: ${missing[*]}"
			mtk_say "metatoken: not root and no sudo; install them and run again."
			return 1
		fi
		sudo=(sudo)
	fi
	mtk_say "metatoken: installing Debian packages: ${missing[*]}"
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq || return 1
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null || return 1
}

# mtk_build DIR [cmake args...]: configures (once) and builds into DIR.
mtk_build() {
	local dir=$1
	shift
	cmake -S "$MTK_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null || return 1
	# Whatever generator made DIR (make or Ninja): no tool-specific flags.
	cmake --build "$dir" -j "$(nproc)" >/dev/null || {
		# Show the errors, not a wall of progress lines.
		cmake --build "$dir" -j 1 2>&1 | grep -E -B2 -A6 'error|Error' | head -80 >&2
		return 1
	}
}
