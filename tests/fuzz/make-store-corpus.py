#!/usr/bin/env python3
"""make-store-corpus.py: writes the seed corpora of the text-extractor fuzz targets
(tests/fuzz/{text,sections,html,epub}-corpus). Run from the repository root; the output is
deterministic and checked in, so this only needs running again when a seed is added."""
import io
import os
import zipfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)))


def put(corpus, name, data):
    d = os.path.join(ROOT, corpus + "-corpus")
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# --- encodings and normalisation ---
put("text", "ascii.txt", "Plain ASCII text.\nSecond line\n\nlast line without newline")
put("text", "utf8-nfd-crlf.txt", "Cafe\u0301 cre\u0300me\r\nA\u030a and \u212b\r\n\u1e9b\u0323\r\n")
put("text", "utf8-bom.txt", b"\xef\xbb\xbfWith a byte-order mark: \xc3\xa9t\xc3\xa9\n")
put("text", "utf16le.txt", b"\xff\xfe" + "UTF-16 \u00e9\U0001F600\nline two\n".encode("utf-16-le"))
put("text", "utf16be.txt", b"\xfe\xff" + "UTF-16 big \u00fc\nzwei\n".encode("utf-16-be"))
put("text", "cp1252.txt", b"caf\xe9 cr\xe8me \x80 \x93quoted\x94 \x9f\x81\n")
put("text", "bad-utf8.txt", b"overlong \xc0\xaf surrogate \xed\xa0\x80 big \xf4\x90\x80\x80 cut \xe2\x82\n")
put("text", "long-line.txt", "word " * 80 + "\n" + "x" * 300 + "\n")

# --- section detection ---
put("sections", "kjv.txt",
    "Ge1:1 In the beginning God created the heaven and the earth.\n"
    "Ge1:2 And the earth was without form, and void.\n"
    "Ge2:1 Thus the heavens and the earth were finished.\n"
    "SSol1:1 The song of songs, which is Solomon's.\n"
    "1Sa3:4 That the LORD called Samuel.\n"
    "John 3:16 For God so loved the world.\n")
put("sections", "constitution.txt",
    "Preamble\n\nWe the People of the United States\n\nArticle I\n\nSection 1.\n\n"
    "All legislative Powers herein granted\n\nSection 2.\n\n1. The House of Representatives\n"
    "  1.1 shall be composed\n    (a) of Members chosen\n\nAmendments\n\nAmendment XIV\n\n"
    "\u00a7 1. All persons born\n\nCHAPTER TWENTY-ONE\n\nPART III\n")
put("sections", "markdown.md",
    "# Title\n\nIntro.\n\n## Install\n\n```\n# not a heading\n```\n\nUsage\n-----\n\n"
    "Other\n=====\n\n### Deep ###\n")
put("sections", "clauses.txt",
    "1. First\n2. Second\n  2.1. Sub\n    2.1.1 Subsub\n(a) letter\n(iv) roman\n"
    "BOOK I\nVolume 2\nAPPENDIX A\nSec. 4\nTITLE 17\n")

# --- HTML ---
put("html", "sample.html",
    open(os.path.join(ROOT, "..", "data", "store", "sample.html"), "rb").read())
put("html", "xhtml.xhtml",
    '<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE html>\n'
    '<html xmlns="http://www.w3.org/1999/xhtml"><head><title>Ch &#8211; One</title></head>'
    '<body><section><h1 id="a">One</h1><p>Text &eacute;&amp;&#x263A;.</p>'
    '<h2>Two</h2><pre>  kept\n  lines</pre><blockquote>quote</blockquote>'
    '<h3>Three</h3><dl><dt>term</dt><dd>def</dd></dl></section></body></html>\n')
put("html", "broken.html",
    "<html><body><h1>Unclosed <b>bold<p>para<li>item<table><tr><td>a<td>b"
    "<script>var x = '</p>';</script><h7>not</h7><!-- comment --><![CDATA[cdata]]>"
    "<h2></h2>\xff\xfe<p>t\x00u</p>")
put("html", "latin1.html",
    b'<html><head><meta charset="iso-8859-1"><title>caf\xe9</title></head>'
    b'<body><h1>T\xeate</h1><p>na\xefve</p><ol><li>un<li>deux</ol></body></html>')

# --- EPUB: parts cut at "\n%%\n" (see fuzz-epub.c), and real zips ---
CONTAINER = ('<?xml version="1.0"?>\n<container version="1.0" '
             'xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles>'
             '<rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>'
             '</rootfiles></container>\n')
OPF = ('<?xml version="1.0"?>\n<package xmlns="http://www.idpf.org/2007/opf" version="{v}">'
       '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>A Book</dc:title>'
       '</metadata><manifest>'
       '<item id="ncx" href="toc.ncx" media-type="application/x-dtbncx+xml"/>'
       '<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>'
       '<item id="c1" href="ch1.xhtml" media-type="application/xhtml+xml"/>'
       '<item id="c2" href="ch%32.xhtml#frag" media-type="application/xhtml+xml"/>'
       '</manifest><spine toc="ncx"><itemref idref="c2"/><itemref idref="c1"/></spine>'
       '</package>\n')
NCX = ('<?xml version="1.0"?>\n<ncx xmlns="http://www.daisy.org/z3986/2005/ncx/"><navMap>'
       '<navPoint id="p1"><navLabel><text>First Chapter</text></navLabel>'
       '<content src="ch1.xhtml"/></navPoint><navPoint id="p2"><navLabel><text>Second'
       '</text></navLabel><content src="ch2.xhtml#x"/></navPoint></navMap></ncx>\n')
NAV = ('<?xml version="1.0"?>\n<html xmlns="http://www.w3.org/1999/xhtml" '
       'xmlns:epub="http://www.idpf.org/2007/ops"><body><nav epub:type="toc"><ol>'
       '<li><a href="ch1.xhtml">Nav One</a></li><li><a href="ch2.xhtml">Nav Two</a></li>'
       '</ol></nav></body></html>\n')
CH1 = ('<html xmlns="http://www.w3.org/1999/xhtml"><head><title>c1</title></head><body>'
       '<h1>Chapter One</h1><p>First words.</p><h2>Part</h2><p>More.</p></body></html>\n')
CH2 = ('<html xmlns="http://www.w3.org/1999/xhtml"><body><h1>Chapter Two</h1>'
       '<p>Second words &amp; more.</p></body></html>\n')
SEP = "\n%%\n"
put("epub", "epub2-ncx.parts", SEP.join([CONTAINER, OPF.format(v="2.0"), NCX, "", CH1, CH2]))
put("epub", "epub3-nav.parts", SEP.join([CONTAINER, OPF.format(v="3.0"), NCX, NAV, CH1, CH2]))
# One chapter named 600 times by the spine: it is read once.
put("epub", "spine-repeat.parts", SEP.join([CONTAINER, OPF.format(v="2.0").replace(
    '<itemref idref="c1"/>', '<itemref idref="c1"/>' * 600), NCX, "", CH1 * 4, CH2]))
put("epub", "no-rootfile.parts", SEP.join(["<container/>", OPF.format(v="2.0")]))


def zipped(files, mimetype_first):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as z:
        if mimetype_first:
            z.writestr("mimetype", "application/epub+zip")
        for name, data in files:
            z.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), data,
                       compress_type=zipfile.ZIP_DEFLATED)
        if not mimetype_first:
            z.writestr(zipfile.ZipInfo("mimetype", (2020, 1, 1, 0, 0, 0)),
                       "application/epub+zip")
    return b.getvalue()


BOOK = [("OEBPS/ch1.xhtml", CH1), ("OEBPS/toc.ncx", NCX), ("META-INF/container.xml", CONTAINER),
        ("OEBPS/content.opf", OPF.format(v="2.0")), ("OEBPS/ch2.xhtml", CH2)]
put("epub", "book.epub", zipped(BOOK, False))
