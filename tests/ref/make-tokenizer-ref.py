#!/usr/bin/env python3
"""make-tokenizer-ref.py: build the tokenizer test corpus and llama.cpp's token ids for it.

Usage (from the repository root, with the pinned reference venv):
    /opt/quire-ref/bin/python tests/ref/make-tokenizer-ref.py MODEL.gguf tests/data/tokenizer
    /opt/quire-ref/bin/python tests/ref/make-tokenizer-ref.py --reuse-corpus MODEL.gguf OUTDIR

The first form builds the corpus afresh (from files of this machine, so it differs between
machines) and writes both files. The second writes only OUTDIR/ids.bin.xz, another model's ids
over the SAME committed corpus: it reads the chunk boundaries and the extra samples from
tests/data/tokenizer/ids.bin.xz (--corpus-dir DIR names another folder), re-tokenizes them with
MODEL and adds the samples of MORE_SPECIAL_SAMPLES (other chat markups, whitespace runs, U+2581
in the text), with special parsing off and on. tests/t-tokenizer.c reads such a folder's ids
together with the committed corpus (tests/data/tokenizer-gemma3 for gemma 3).

Reference peer: llama-cpp-python 0.3.16 (Llama(model_path, vocab_only=True).tokenize()).

Writes, xz-compressed:
  corpus.txt.xz  about 5.5 MB of valid UTF-8, the concatenation of all corpus chunks: licence
                 texts, C headers, Python sources (read from this machine in sorted order) and a
                 seeded synthetic generator (CJK, emoji, numbers, whitespace runs, accents, RTL,
                 mixed scripts). The corpus is committed, so other machines need not rebuild it.
  ids.bin.xz     the expected ids, records in order:
                   "QTOKREF1" magic, varint n_vocab
                   'C' varint(chunk bytes) varint(n) n * varint(id)   one per corpus chunk
                   'X' flags varint(len) bytes varint(n) n * varint(id)  extra samples:
                        flags bit 0 = parse special tokens; texts with invalid UTF-8 and chat
                        markup live here
                   'E' end
Every chunk is tokenized on its own with add_bos=False; corpus chunks with special=False.
"""
import lzma
import os
import random
import sys

CORPUS_TARGET = 5_600_000


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def read_utf8(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
        data.decode("utf-8")
        return data
    except (OSError, UnicodeDecodeError):
        return None


def split_lines(data, lo, hi, rng):
    """Cut data into chunks of lo..hi bytes at line ends (a long line may make one longer)."""
    out = []
    pos = 0
    while pos < len(data):
        want = rng.randint(lo, hi)
        end = data.find(b"\n", pos + want)
        end = len(data) if end < 0 else end + 1
        out.append(data[pos:end])
        pos = end
    return out


def files_under(root, suffixes):
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            if name.endswith(suffixes):
                found.append(os.path.join(dirpath, name))
    return found


def real_text_chunks(rng):
    chunks = []
    budget = {"lic": 300_000, "h": 1_500_000, "py": 1_700_000}
    sources = [
        ("lic", sorted(os.path.join("/usr/share/common-licenses", n)
                       for n in os.listdir("/usr/share/common-licenses"))),
        ("h", files_under("/usr/include", (".h",))),
        ("py", sorted(os.path.join("/usr/lib/python3.11", n)
                      for n in os.listdir("/usr/lib/python3.11") if n.endswith(".py"))),
    ]
    for kind, paths in sources:
        used = 0
        # take every k-th file so the sample spans the whole tree, not its first folder
        step = max(1, len(paths) // 400) if kind == "h" else 1
        for path in paths[::step]:
            if used >= budget[kind]:
                break
            if not os.path.isfile(path) or os.path.islink(path):
                continue
            data = read_utf8(path)
            if not data:
                continue
            data = data[: budget[kind] - used + 4096]
            data = data[: len(data.decode("utf-8", "ignore").encode("utf-8"))]
            used += len(data)
            chunks.extend(split_lines(data, 200, 12_000, rng))
    return chunks


# --- synthetic text ---------------------------------------------------------------------------

WORDS = ("the of and to in is was that for it with as his on be at by this had not are but "
         "from or have an they which one you were her all she there would their we him been "
         "has when who will more no if out so said what up its about into than them can only "
         "other new some could time these two may then do first any my now such like our over "
         "man me even most made after also did many before must through back years where much "
         "your way well down should because each just those people how too little state good "
         "very make world still own see men work long get here between both life being under "
         "never day same another know while last might us great old year off come since against "
         "go came right used take three LORD God Israel Jerusalem Pharaoh Don't can't I'm we're "
         "they've she'll he'd it's IT'S WE'RE THEY'VE I'D O'Neil rock'n'roll").split()

ACCENTED = ("café naïve façade jalapeño Zürich Ærøskøbing São Paulo Kraków Łódź Dvořák "
            "Tiếng Việt Nguyễn Ελληνικά Ἀθῆναι Москва Київ Беларусь Ñandú İstanbul ıi ß "
            "Straße œuvre Ångström smörgåsbord crème brûlée über-cool").split()

RTL = ["مرحبا بالعالم", "السَّلَامُ عَلَيْكُمْ", "اللغة العربية جميلة", "שלום עולם",
       "עִבְרִית", "فارسی زبان شیرینی است", "اردو ایک زبان ہے", "١٢٣٤٥٦٧٨٩٠", "۱۲۳۴"]

OTHER = ["हिन्दी भाषा", "नमस्ते दुनिया", "ภาษาไทยง่ายนิดเดียว", "ქართული ენა", "Հայերեն",
         "বাংলা ভাষা", "தமிழ் மொழி", "ಕನ್ನಡ", "ᚠᚢᚦᚨᚱᚲ", "ꦗꦮ", "Ελληνικά γράμματα",
         "русский язык", "Ѕѐ Ґґ Її", "ʻōlelo Hawaiʻi", "Ꭰꭰ", "ⴰⵣⴰ"]

EMOJI = ["🦙", "😀", "😂", "👍", "👍🏽", "👨‍👩‍👧‍👦", "🇫🇷", "🇯🇵", "❤️", "❤", "1️⃣", "#️⃣",
         "🏳️‍🌈", "🧑‍💻", "🤖", "🔥", "✨", "🎉", "☕", "⚡", "🐍", "🦀", "👩🏿‍🚀", "😅"]

PUNCT = ["!", "?", ".", ",", ";", ":", "...", "…", "—", "–", "-", "--", "(", ")", "[", "]",
         "{", "}", "<", ">", "<<", ">>", "=", "==", "!=", "+=", "->", "=>", "::", "/", "\\",
         "|", "||", "&&", "$", "$$", "%", "^", "~", "`", "```", "'", "\"", "“", "”", "‘", "’",
         "«", "»", "¿", "¡", "§", "¶", "©", "®", "™", "°", "±", "×", "÷", "€", "£", "¥", "¢",
         "@", "#", "*", "**", "_", "__", "&", "、", "。", "「", "」", "！", "？", "：", "·",
         "•", "†", "‡", "′", "″", "‰", "№", "←", "→", "⇒", "∀", "∃", "∑", "√", "∞", "≠", "≤"]

SPACES = [" ", "  ", "   ", "    ", "        ", "\t", "\t\t", "\n", "\n\n", "\n\n\n",
          "\n\n\n\n\n", "\r\n", "\r\n\r\n", " \n", "\n ", "\t\n", " \t ", "\u00a0", "\u3000",
          "\u2009", "\u2003", "\u202f", "\u0085", "\u1680", "\u2028", "\u2029", "\u000b",
          "\u000c", "\r", " \u00a0 ", "\u200b", "\ufeff", "\u001c", "\u001f", "\u00ad"]


def cjk(rng, n):
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.5:
            out.append(chr(rng.randint(0x4E00, 0x9FA5)))
        elif r < 0.65:
            out.append(chr(rng.randint(0x3041, 0x3093)))
        elif r < 0.75:
            out.append(chr(rng.randint(0x30A1, 0x30F6)))
        elif r < 0.9:
            out.append(chr(rng.randint(0xAC00, 0xD7A3)))
        else:
            out.append(rng.choice("、。「」，！？：（）《》ー々〇"))
    return "".join(out)


def number(rng):
    r = rng.random()
    if r < 0.2:
        return str(rng.randint(0, 10 ** rng.randint(1, 12)))
    if r < 0.3:
        return "".join(rng.choice("0123456789") for _ in range(rng.randint(13, 120)))
    if r < 0.45:
        return f"{rng.uniform(-1e6, 1e6):.{rng.randint(0, 6)}f}"
    if r < 0.55:
        return f"{rng.randint(0, 999)},{rng.randint(0, 999):03d},{rng.randint(0, 999):03d}.{rng.randint(0, 99):02d}"
    if r < 0.62:
        return f"0x{rng.getrandbits(32):08X}"
    if r < 0.7:
        return f"{rng.randint(1, 28)}/{rng.randint(1, 12)}/{rng.randint(1900, 2100)}"
    if r < 0.76:
        return f"+1 ({rng.randint(200, 999)}) {rng.randint(100, 999)}-{rng.randint(1000, 9999)}"
    if r < 0.82:
        return f"{rng.randint(1, 9)}e{rng.choice('+-')}{rng.randint(1, 300)}"
    if r < 0.88:
        return "".join(chr(0xFF10 + int(c)) for c in str(rng.randint(0, 99999)))
    if r < 0.94:
        return rng.choice(["½", "¾", "²", "³", "Ⅻ", "ⅷ", "①", "⑳", "٣", "۷", "५", "๓"]) + str(rng.randint(0, 9))
    return f"{rng.randint(1, 66)}:{rng.randint(1, 176)}"


def word(rng):
    r = rng.random()
    if r < 0.55:
        w = rng.choice(WORDS)
        c = rng.random()
        return w.capitalize() if c < 0.12 else w.upper() if c < 0.16 else w
    if r < 0.63:
        return rng.choice(ACCENTED)
    if r < 0.68:
        base = rng.choice(["e", "a", "o", "n", "u"])
        return "w" + base + rng.choice(["\u0301", "\u0300", "\u0308", "\u0303", "\u0327"]) + "rd"
    if r < 0.76:
        return number(rng)
    if r < 0.82:
        return cjk(rng, rng.randint(1, 12))
    if r < 0.86:
        return rng.choice(RTL)
    if r < 0.9:
        return rng.choice(OTHER)
    if r < 0.95:
        return rng.choice(EMOJI) * rng.randint(1, 3)
    return rng.choice(["https://example.org/a/b?c=d&e=f#g", "user@example.com", "/usr/local/bin",
                       "C:\\Windows\\System32", "snake_case_name", "camelCaseName", "__init__",
                       "x86_64-linux-gnu", "v1.2.3-rc.4", "a.b.c", "#include <stdio.h>",
                       "it’s", "don’t", "l'homme", "'quoted'", "''", "'''", "'s", "'S", "'Re"])


def sentence(rng):
    parts = []
    for _ in range(rng.randint(1, 25)):
        parts.append(word(rng))
        r = rng.random()
        if r < 0.68:
            parts.append(" ")
        elif r < 0.85:
            parts.append(rng.choice(PUNCT) + rng.choice([" ", "", "  ", "\n"]))
        else:
            parts.append(rng.choice(SPACES))
    return "".join(parts)


def synthetic_chunks(rng, total):
    chunks, used = [], 0
    while used < total:
        r = rng.random()
        if r < 0.05:
            text = rng.choice(SPACES) * rng.randint(1, 300)          # long whitespace runs
        elif r < 0.08:
            text = rng.choice(PUNCT) * rng.randint(2, 200)           # punctuation runs
        elif r < 0.1:
            text = cjk(rng, rng.randint(100, 3000))                  # long CJK runs
        elif r < 0.12:
            text = "".join(rng.choice(EMOJI) for _ in range(rng.randint(5, 400)))
        elif r < 0.13:
            text = rng.choice(WORDS)[:1]                             # tiny chunks
        else:
            text = "".join(sentence(rng) + rng.choice(SPACES)
                           for _ in range(rng.randint(1, 40)))
        data = text.encode("utf-8")
        if not data:
            continue
        chunks.append(data)
        used += len(data)
    return chunks


def invalid_samples(rng):
    """Byte strings that are not valid UTF-8, for the no-crash and llama.cpp-match checks."""
    fixed = [b"\xff", b"\xfe\xff", b"\x80", b"abc\x80def", b"\xc3", b"caf\xc3", b"caf\xc3 au lait",
             b"\xe6\x97", b"\xe6\x97\xa5\xe6", b"\xf0\x9f\xa6", b"\xf0\x9f\xa6 llama",
             b"\xc0\x80", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xc1\xbf", b"\xed\xa0\x80",
             b"\xed\xbf\xbf", b"\xed\xa0\xbd\xed\xb8\x80", b"Hello \xff world", b"\xf8\x88\x80\x80\x80",
             b"\xfc\x84\x80\x80\x80\x80", b"a\xc3b", b"\xe2\x28\xa1", b"\xe2\x82\x28",
             b"\xf0\x28\x8c\xbc", b"\xf0\x90\x28\xbc", b"12\x8034", b"  \x80  ", b"\n\xff\n",
             b"'\xffs", b"\x80\x80\x80\x80", b"\xc3\xa9\x80\xc3\xa9", b"\xef\xbb\xbftext"]
    out = list(fixed)
    for _ in range(120):
        n = rng.randint(1, 300)
        if rng.random() < 0.5:
            data = bytes(rng.getrandbits(8) for _ in range(n))
        else:   # mostly valid text with a few damaged bytes
            data = bytearray(sentence(rng).encode("utf-8"))
            for _ in range(rng.randint(1, 4)):
                if data:
                    data[rng.randrange(len(data))] = rng.getrandbits(8)
            data = bytes(data)
        out.append(data)
    return out


def decodes_past_unicode(data):
    """llama.cpp throws (and would end the process) for a sequence that spells a value past
    U+10FFFF; such samples are left to the no-crash check."""
    i = 0
    while i < len(data):
        c = data[i]
        if c >= 0xF0 and c < 0xF8 and i + 3 < len(data) and all(0x80 <= b < 0xC0 for b in data[i + 1:i + 4]):
            v = ((c & 7) << 18) | ((data[i + 1] & 0x3F) << 12) | ((data[i + 2] & 0x3F) << 6) | (data[i + 3] & 0x3F)
            if v > 0x10FFFF:
                return True
            i += 4
        else:
            i += 1
    return False


SPECIAL_SAMPLES = [
    b"<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n",
    b"<|im_end|>", b"text<|im_end|>text", b"<|im_end|><|im_end|>", b"<|im_end|", b"|im_end|>",
    b"<|endoftext|> after", b"  <|im_start|>  ", b"<repo_name>x<file_sep>y<filename>z",
]


# Samples for --reuse-corpus, on top of those of the committed ids: gemma's chat markup and
# CONTROL tokens, its USER_DEFINED tokens (whitespace runs, HTML tags) next to text, and
# SentencePiece's own U+2581 written in the text.
MORE_SPECIAL_SAMPLES = [
    b"<start_of_turn>user\nHi!<end_of_turn>\n<start_of_turn>model\n",
    b"<bos><start_of_turn>user\nWho are you?<end_of_turn>\n<start_of_turn>model\nA model.<end_of_turn>\n",
    b"<end_of_turn>", b"text<end_of_turn>text", b"<start_of_turn", b"start_of_turn>",
    b"<bos>", b"<eos>", b"<pad>", b"<unk>", b"<mask>", b"<unused0>", b"<unused6241>",
    b"<unused99999>", b"<start_of_image><end_of_image>", b"[multimodal]", b"a [multimodal] b",
    b"  <start_of_turn>  ", b"<eos> after", b"before <eos>",
    b"<table><tr><td>1</td></tr></table>", b"<div class=\"x\">y</div>", b"<h1>T</h1>\n<p>p</p>",
    b">\xe2\x96\x81</", b"> </", b"a> </b", b"<b> </b> <i> </i>",
    b"\n", b"\n\n", b"\n" * 31, b"\n" * 40, b"\t", b"\t\t\t", b"\t" * 33, b" ", b"  ",
    b" " * 31, b" " * 70, b"a  b   c    d", b"  leading", b"trailing  ", b" x", b"x \n y",
    b"\n \n\t \t", b" \t\n \n\n  \t\t", b"line\n\n\nline", b"def f():\n    return 1\n",
    b"\xe2\x96\x81", b"\xe2\x96\x81\xe2\x96\x81", b"a\xe2\x96\x81b", b"\xe2\x96\x81 \xe2\x96\x81",
    b" \xe2\x96\x81", b"\xe2\x96\x81 ", b"x\xe2\x96\x81 y", b"the\xe2\x96\x81cat sat",
    b"\xe2\x96\x81\xe2\x96\x81\xe2\x96\x81 \xe2\x96\x81 the",
]


def read_committed(corpus_dir):
    """The corpus chunks and extra samples of a committed reference folder."""
    with open(os.path.join(corpus_dir, "corpus.txt.xz"), "rb") as f:
        corpus = lzma.decompress(f.read())
    with open(os.path.join(corpus_dir, "ids.bin.xz"), "rb") as f:
        ref = lzma.decompress(f.read())
    if ref[:8] != b"QTOKREF1":
        sys.exit(f"{corpus_dir}/ids.bin.xz: not a QTOKREF1 file")
    pos = 8

    def rd_varint():
        nonlocal pos
        v, shift = 0, 0
        while True:
            b = ref[pos]
            pos += 1
            v |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return v

    def skip_ids():
        for _ in range(rd_varint()):
            rd_varint()

    rd_varint()   # the other model's n_vocab
    chunks, extra, at = [], [], 0
    while True:
        kind = ref[pos:pos + 1]
        pos += 1
        if kind == b"E":
            break
        if kind == b"C":
            n = rd_varint()
            chunks.append(corpus[at:at + n])
            at += n
        elif kind == b"X":
            flags = ref[pos]
            pos += 1
            n = rd_varint()
            extra.append((flags, ref[pos:pos + n]))
            pos += n
        else:
            sys.exit(f"{corpus_dir}/ids.bin.xz: bad record {kind!r} at byte {pos - 1}")
        skip_ids()
    if at != len(corpus):
        sys.exit(f"{corpus_dir}: the chunks cover {at} of {len(corpus)} corpus bytes")
    return chunks, extra


def write_ids(llm, chunks, extra, path):
    out = bytearray(b"QTOKREF1")
    out += varint(llm.n_vocab())
    n_tokens = 0
    for c in chunks:
        ids = llm.tokenize(c, add_bos=False, special=False)
        n_tokens += len(ids)
        out += b"C" + varint(len(c)) + varint(len(ids)) + b"".join(varint(t) for t in ids)
    n_extra = 0
    for flags, s in extra:
        if decodes_past_unicode(s):
            continue
        ids = llm.tokenize(s, add_bos=False, special=bool(flags & 1))
        out += b"X" + bytes([flags]) + varint(len(s)) + s + varint(len(ids))
        out += b"".join(varint(t) for t in ids)
        n_extra += 1
    out += b"E"
    with open(path, "wb") as f:
        f.write(lzma.compress(bytes(out), preset=9 | lzma.PRESET_EXTREME))
    return n_tokens, n_extra


def main_reuse(argv):
    corpus_dir = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                               "..", "data", "tokenizer"))
    if len(argv) >= 2 and argv[0] == "--corpus-dir":
        corpus_dir, argv = argv[1], argv[2:]
    if len(argv) != 2:
        sys.exit("usage: make-tokenizer-ref.py --reuse-corpus [--corpus-dir DIR] MODEL.gguf OUTDIR")
    from llama_cpp import Llama
    model, outdir = argv
    llm = Llama(model_path=model, vocab_only=True, verbose=False)
    chunks, extra = read_committed(corpus_dir)
    extra += [(flags, s) for flags in (0, 1) for s in MORE_SPECIAL_SAMPLES]
    os.makedirs(outdir, exist_ok=True)
    n_tokens, n_extra = write_ids(llm, chunks, extra, os.path.join(outdir, "ids.bin.xz"))
    print(f"{len(chunks)} chunks, {sum(len(c) for c in chunks)} bytes (from {corpus_dir}), "
          f"{n_tokens} tokens, {n_extra} extra samples")


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "--reuse-corpus":
        main_reuse(sys.argv[2:])
        return
    if len(sys.argv) != 3:
        sys.exit("usage: make-tokenizer-ref.py MODEL.gguf OUTDIR\n"
                 "       make-tokenizer-ref.py --reuse-corpus [--corpus-dir DIR] MODEL.gguf OUTDIR")
    from llama_cpp import Llama
    model, outdir = sys.argv[1], sys.argv[2]
    llm = Llama(model_path=model, vocab_only=True, verbose=False)
    rng = random.Random(20251121)

    chunks = real_text_chunks(rng)
    real = sum(len(c) for c in chunks)
    synth = synthetic_chunks(rng, max(1_200_000, CORPUS_TARGET - real))
    # interleave so that neither kind sits only at one end
    merged = []
    for i in range(max(len(chunks), len(synth))):
        if i < len(chunks):
            merged.append(chunks[i])
        if i < len(synth):
            merged.append(synth[i])
    # one long chunk (about 600 kB) exercises long inputs in one call
    big = b"".join(merged[1000:1300])
    merged.insert(7, big)
    corpus = b"".join(merged)
    corpus.decode("utf-8")

    extra = [(flags, s) for flags, samples in ((0, invalid_samples(rng)), (0, SPECIAL_SAMPLES),
                                                (1, SPECIAL_SAMPLES)) for s in samples]
    os.makedirs(outdir, exist_ok=True)
    n_tokens, n_extra = write_ids(llm, merged, extra, os.path.join(outdir, "ids.bin.xz"))
    with open(os.path.join(outdir, "corpus.txt.xz"), "wb") as f:
        f.write(lzma.compress(corpus, preset=9 | lzma.PRESET_EXTREME))
    print(f"{len(merged)} chunks, {len(corpus)} bytes, {n_tokens} tokens, {n_extra} extra samples")


if __name__ == "__main__":
    main()
