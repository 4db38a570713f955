#!/usr/bin/env python3
"""make-pdf.py OUT [--encrypted]: writes a small two-page PDF (Helvetica text, an Info title)
by hand, with a correct cross-reference table, for the PDF ingest test (tests/t5006-pdf.sh
uses the checked-in sample.pdf and sample-encrypted.pdf this writes). --encrypted adds a
standard security handler whose password is not empty, so readers ask for one."""
import sys

encrypted = "--encrypted" in sys.argv[2:]

pages = [
    ["Chapter One", "The first page of the sample PDF.", "It has three lines of text."],
    ["Chapter Two", "A zebra crossing appears on page two.", "Caf\xe9 is written in WinAnsi."],
]
objs = []
objs.append(b"<< /Type /Catalog /Pages 2 0 R >>")
kids = " ".join("%d 0 R" % (4 + 2 * i) for i in range(len(pages)))
objs.append(("<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(pages))).encode())
objs.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
for i, lines in enumerate(pages):
    ops = ["BT", "/F1 14 Tf", "72 720 Td", "18 TL"]
    for ln in lines:
        esc = ln.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        ops.append("(%s) Tj T*" % esc)
    ops.append("ET")
    stream = "\n".join(ops).encode("latin-1")
    objs.append(("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                 "/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (5 + 2 * i)).encode())
    objs.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
objs.append(b"<< /Title (Quire Sample PDF) /Producer (make-pdf.py) >>")
info = len(objs)
if encrypted:
    objs.append(b"<< /Filter /Standard /V 1 /R 2 /Length 40 /P -4 /O <" + b"ab" * 32 +
                b"> /U <" + b"cd" * 32 + b"> >>")
enc = len(objs)
out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
offsets = []
for n, body in enumerate(objs, 1):
    offsets.append(len(out))
    out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
xref = len(out)
out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
for off in offsets:
    out += b"%010d 00000 n \n" % off
extra = (b" /Encrypt %d 0 R /ID [<%s><%s>]" % (enc, b"01" * 16, b"01" * 16)) if encrypted else b""
out += b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (
    len(objs) + 1, info, extra, xref)
open(sys.argv[1], "wb").write(out)
