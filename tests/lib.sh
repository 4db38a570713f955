# lib.sh: TAP helpers for the shell tests (sourced). Counts, prints "ok N - name" lines and
# the plan at the end; a test script ends with `done_testing`.
tap_n=0
tap_failed=0

ok() {  # ok STATUS NAME: STATUS 0 passes
	tap_n=$((tap_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $tap_n - $2"
	else
		echo "not ok $tap_n - $2"
		tap_failed=$((tap_failed + 1))
	fi
}

is() {  # is GOT WANT NAME
	if [ "$1" = "$2" ]; then
		ok 0 "$3"
	else
		ok 1 "$3"
		printf '#      got: %s\n#   expected: %s\n' "$1" "$2"
	fi
}

diag() {
	printf '# %s\n' "$*"
}

skip_all() {
	echo "1..0 # SKIP $*"
	exit 0
}

done_testing() {
	echo "1..$tap_n"
	[ "$tap_failed" -eq 0 ]
	exit $?
}

: "${QUIRE:?QUIRE must name the quire binary (make check sets it)}"
: "${srcdir:=.}"
TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/quire-test.XXXXXX")
trap 'rm -rf "$TEST_TMP"' EXIT
# Tests never touch the user's files.
export XDG_DATA_HOME="$TEST_TMP/data" XDG_CONFIG_HOME="$TEST_TMP/config"
