#!/bin/sh
# t0002-man.sh: man/quire.1 lists exactly the commands and options of the command table (as
# help prints them), and passes mandoc's lint.
. "$srcdir/tests/lib.sh"
man="$srcdir/man/quire.1"

# Commands: from help's command list, and from the man page's .It Cm entries.
"$QUIRE" --help > "$TEST_TMP/help"
awk '/^commands:/{f=1;next} /^$/{f=0} f && /^  [a-z]/ {print $1}' "$TEST_TMP/help" | sort > "$TEST_TMP/cmds-help"
sed -n 's/^\.It Cm \([a-z][a-z-]*\).*/\1/p' "$man" | sort -u > "$TEST_TMP/cmds-man"
test -s "$TEST_TMP/cmds-help"; ok $? "help lists commands"
diff "$TEST_TMP/cmds-help" "$TEST_TMP/cmds-man" > "$TEST_TMP/d1"; rc=$?
ok $rc "man page lists the same commands as help"
[ $rc -eq 0 ] || sed 's/^/# /' "$TEST_TMP/d1"

# Long options: global ones from --help, and each command's from COMMAND --help.
{
	grep -o -- '--[a-z][a-z0-9-]*' "$TEST_TMP/help"
	for c in $(cat "$TEST_TMP/cmds-help"); do
		"$QUIRE" "$c" --help | awk '/^command options:/{f=1;next} /^$/{f=0} f' |
			grep -o -- '--[a-z][a-z0-9-]*'
	done
} | sort -u > "$TEST_TMP/opts-help"
grep '^\.It Fl' "$man" | grep -o 'Fl \\*-[a-z][a-z0-9-]*' | sed 's/Fl \\*-/--/' | sort -u > "$TEST_TMP/opts-man"
test -s "$TEST_TMP/opts-help"; ok $? "help lists options"
diff "$TEST_TMP/opts-help" "$TEST_TMP/opts-man" > "$TEST_TMP/d2"; rc=$?
ok $rc "man page lists the same long options as help"
[ $rc -eq 0 ] || sed 's/^/# /' "$TEST_TMP/d2"

# Short options too.
{
	grep -o -- '^  -[a-zA-Z],' "$TEST_TMP/help"
	for c in $(cat "$TEST_TMP/cmds-help"); do
		"$QUIRE" "$c" --help | awk '/^command options:/{f=1;next} /^$/{f=0} f' | grep -o -- '^  -[a-zA-Z],'
	done
} | sed 's/^  \(-[a-zA-Z]\),/\1/' | sort -u > "$TEST_TMP/short-help"
sed -n 's/^\.It Fl \([a-zA-Z]\)\( .*\)\{0,1\}$/-\1/p' "$man" | sort -u > "$TEST_TMP/short-man"
diff "$TEST_TMP/short-help" "$TEST_TMP/short-man" > "$TEST_TMP/d3"; rc=$?
ok $rc "man page lists the same short options as help"
[ $rc -eq 0 ] || sed 's/^/# /' "$TEST_TMP/d3"

if [ -n "$MANDOC" ] && [ -x "$MANDOC" ]; then
	"$MANDOC" -Tlint -Wwarning "$man" > "$TEST_TMP/lint" 2>&1; rc=$?
	ok $rc "mandoc -Tlint finds no warnings"
	[ $rc -eq 0 ] || sed 's/^/# /' "$TEST_TMP/lint"
else
	echo "ok $((tap_n + 1)) # SKIP mandoc not installed"; tap_n=$((tap_n + 1))
fi
done_testing
