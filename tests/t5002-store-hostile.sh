#!/bin/sh
# t5002-store-hostile.sh: bad inputs each give a clear message naming the file and leave the
# library intact (corrupt zip/tar, truncated gz, zip bomb, 10-level nesting, binary file,
# invalid UTF-8, empty file, long single line, encrypted zip, ".." member names); a second
# writer is told who holds the library; kill -9 during ingest leaves a library that checks.
. "${srcdir:-.}/tests/lib.sh"

T=$TEST_TMP   # lib.sh made it and removes it on exit
L=$T/lib
PY=${PYTHON3:-python3}
command -v "$PY" >/dev/null 2>&1 || skip_all "python3 needed to build hostile archives"

cp "$srcdir/tests/data/store/us-constitution.txt" "$T/good.txt"
"$QUIRE" -q -L "$L" ingest "$T/good.txt"
ok $? "a good document first"

ndocs() { "$QUIRE" -L "$L" ls --json | grep -o '"id":' | wc -l | tr -d ' '; }

# bad NAME FILE WANT_STATUS PATTERN [OPTIONS]: ingest fails (or skips) with a message that
# names the file and matches PATTERN; the library still holds 1 document and checks.
bad() {
	name=$1 file=$2 want=$3 pat=$4
	shift 4
	"$QUIRE" -L "$L" ingest "$@" "$file" 2>"$T/err"
	is $? "$want" "$name: exit status $want"
	if grep -F -q "$(basename "$file")" "$T/err" && grep -E -q "$pat" "$T/err"; then
		ok 0 "$name: message names the file and says why"
	else
		ok 1 "$name: message names the file and says why"
		diag "$(cat "$T/err")"
	fi
	"$QUIRE" -L "$L" check >/dev/null 2>"$T/cerr"
	ok $? "$name: library still checks"
}

# Corrupt zip: a good zip with its middle overwritten.
(cd "$T" && printf 'hello zip\n%.0s' $(seq 1 200) >z.txt && bsdtar -a -cf ok.zip z.txt)
"$PY" - "$T/ok.zip" "$T/corrupt.zip" <<'PYEOF'
import sys
d = bytearray(open(sys.argv[1], 'rb').read())
for i in range(30, len(d) - 30):
    d[i] = (d[i] * 7 + 13) & 0xff
open(sys.argv[2], 'wb').write(bytes(d))
PYEOF
bad "corrupt zip" "$T/corrupt.zip" 1 "corrupt|unreadable|cannot open"

# Corrupt tar: a ustar header with a wrong checksum after a good member.
(cd "$T" && bsdtar -cf ok.tar good.txt && head -c 1024 ok.tar >corrupt.tar && \
	"$PY" -c "import sys; h=bytearray(512); h[257:262]=b'ustar'; h[0:4]=b'evil'; h[148:156]=b'0000001\0'; sys.stdout.buffer.write(bytes(h)*3)" >>corrupt.tar)
bad "corrupt tar" "$T/corrupt.tar" 1 "corrupt|unreadable|checksum|Damaged"

# Truncated gz.
gzip -c "$T/good.txt" | head -c 3000 >"$T/trunc.txt.gz"
bad "truncated gz" "$T/trunc.txt.gz" 1 "corrupt|truncated|unexpected|premature"

# Zip bomb: 200 MB of one repeated line in a small zip.
"$PY" - "$T/bomb.zip" <<'PYEOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED, compresslevel=9) as z:
    with z.open('bomb.txt', 'w', force_zip64=True) as f:
        line = b'a' * 1023 + b'\n'
        block = line * 1024
        for _ in range(200):
            f.write(block)
PYEOF
bad "zip bomb" "$T/bomb.zip" 1 "ratio|bomb|limit"

# Ten levels of zip in zip.
printf 'deep text\n' >"$T/deep.txt"
(cd "$T" && bsdtar -a -cf n1.zip deep.txt && i=1 && while [ $i -lt 10 ]; do \
	j=$((i + 1)); bsdtar -a -cf n$j.zip n$i.zip; i=$j; done)
bad "10-level nesting" "$T/n10.zip" 1 "nested deeper"

# Binary file: skipped (not an error), named.
"$PY" -c "import sys; sys.stdout.buffer.write(bytes(range(256))*64)" >"$T/blob.bin"
bad "binary file" "$T/blob.bin" 0 "binary"

# Invalid UTF-8 is read as Windows-1252 and said so.
printf 'caf\351 cr\350me\n' >"$T/latin1.txt"
"$QUIRE" -L "$L" ingest "$T/latin1.txt" 2>"$T/err"
ok $? "invalid UTF-8: ingested"
grep -q "latin1.txt.*Windows-1252" "$T/err"
ok $? "invalid UTF-8: the message says how it was read"
is "$("$QUIRE" -L "$L" show latin1.txt)" "café crème" "invalid UTF-8: decoded as Windows-1252"
"$QUIRE" -q -L "$L" rm latin1.txt

# Empty file: skipped, named.
: >"$T/empty.txt"
bad "empty file" "$T/empty.txt" 0 "empty"

# One 50 MB line.
"$PY" -c "import sys; sys.stdout.write('x' * 50000000 + '\\n')" >"$T/longline.txt"
bad "long single line" "$T/longline.txt" 1 "line 1 is .* bytes long"

# Encrypted zip member: skipped with a message.
if command -v zip >/dev/null 2>&1; then
	(cd "$T" && zip -q -P secret enc.zip deep.txt)
	bad "encrypted zip" "$T/enc.zip" 0 "encrypted"
else
	ok 0 "# SKIP zip not installed (encrypted zip)"
fi

# ".." and control characters in member names are rejected, the good member kept.
"$PY" - "$T/names.zip" <<'PYEOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], 'w') as z:
    z.writestr('../evil.txt', 'evil\n')
    z.writestr('bad\x07name.txt', 'bell\n')
    z.writestr('fine.txt', 'fine member text\n')
PYEOF
bad "'..' names" "$T/names.zip" 1 '"\.\."'
grep -q 'x07' "$T/err"
ok $? "control characters in a name are rejected and shown escaped"
is "$("$QUIRE" -L "$L" show fine.txt)" "fine member text" "the good member of that zip is kept"
"$QUIRE" -q -L "$L" rm fine.txt
is "$(ndocs)" 1 "only the good document remains"

# A second writer waits briefly, then says who holds the library.
"$PY" -c "
import sys
for i in range(400):
    open(sys.argv[1] + '/big%03d.txt' % i, 'w').write(('Line %d of a big file with words.\n' % i) * 5000)
" "$(mkdir -p "$T/big" && echo "$T/big")"
"$QUIRE" -q -L "$L" ingest "$T/big" 2>/dev/null &
pid=$!
sleep 1
QUIRE_BUSY_MS=200 "$QUIRE" -q -L "$L" ingest "$T/deep.txt" 2>"$T/err"
st=$?
if kill -0 $pid 2>/dev/null; then
	is $st 1 "second writer: exit 1"
	grep -q "being written by pid $pid (quire ingest)" "$T/err"
	ok $? "second writer: told which pid and command hold the library"
	"$QUIRE" -L "$L" ls >/dev/null
	ok $? "a reader is not blocked during ingest"
	kill -9 $pid
	wait $pid 2>/dev/null
	"$QUIRE" -L "$L" check >"$T/check" 2>&1
	ok $? "kill -9 during ingest: check passes"
	grep -q "check: ok" "$T/check"
	ok $? "kill -9 during ingest: no half documents"
	diag "$(head -1 "$T/check")"
else
	wait $pid
	ok 0 "# SKIP ingest finished before the lock test could run"
fi

done_testing
