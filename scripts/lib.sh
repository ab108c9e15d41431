# Shared by scripts/run, scripts/test and .ci/run. Sourced, not executed.
# shellcheck shell=bash

MTK_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Debian packages the project builds, tests and runs with.
MTK_PACKAGES=(
	cmake make gcc pkg-config git
	libmicrohttpd-dev libssl-dev libcjson-dev libcriterion-dev libcurl4-openssl-dev
	curl openssl python3 python3-google-auth python3-requests python3-botocore
	python3-jwt python3-cryptography
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

# npm packages tests run as third-party code, pinned, installed into
# MTK_NPM_DIR (under build/, not in git) by mtk_install_npm:
# - @vercel/fun: its nodejs runtime (lambci's node-custom-lambda bootstrap),
#   a real Lambda runtime that tests/sdk/test_node_runtime.py runs unchanged.
MTK_NPM_DIR="$MTK_ROOT/build/npm"
MTK_NPM_PACKAGES=("@vercel/fun@1.3.6")

# Installs MTK_NPM_PACKAGES into MTK_NPM_DIR unless each is there at its
# pinned version; node and npm come from Debian when missing. Install
# scripts do not run: nothing is built or downloaded beyond the registry.
mtk_install_npm() {
	local p name want have stale=0
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		mtk_install_deps nodejs npm || return 1
	fi
	for p in "${MTK_NPM_PACKAGES[@]}"; do
		name=${p%@*}
		want=${p##*@}
		have=$(node -p "require('$MTK_NPM_DIR/node_modules/$name/package.json').version" 2>/dev/null) || have=
		[ "$have" = "$want" ] || stale=1
	done
	[ $stale -eq 0 ] && return 0
	mtk_say "metatoken: installing npm packages into ${MTK_NPM_DIR#"$MTK_ROOT"/}: ${MTK_NPM_PACKAGES[*]}"
	mkdir -p "$MTK_NPM_DIR" || return 1
	npm install --prefix "$MTK_NPM_DIR" --no-save --no-package-lock --ignore-scripts \
		--no-audit --no-fund --loglevel=error "${MTK_NPM_PACKAGES[@]}" >/dev/null || return 1
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
