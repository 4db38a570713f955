/* fuzz-epub.c: a libFuzzer target for EPUB reading: META-INF/container.xml, the OPF (manifest,
 * spine, metadata), the EPUB 2 NCX and EPUB 3 nav documents, and the chapters. An input that
 * starts like a zip ("PK\3\4") is read as the book itself; any other input is cut at lines
 * "%%" into container.xml, OEBPS/content.opf, OEBPS/toc.ncx, OEBPS/nav.xhtml,
 * OEBPS/ch1.xhtml and OEBPS/ch2.xhtml, which are zipped (stored) first, so the mutations
 * reach the XML rather than dying in the zip's checksums. Every book gives text or a message;
 * the text is valid UTF-8 and its sections are consistent.
 *
 * Build with libFuzzer: `make fuzz-short` (see tests/fuzz/README), or by hand:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I. $(xml2-config --cflags)
 *       tests/fuzz/fuzz-epub.c store/epub.c store/html.c store/sections.c store/text.c
 *       lib/alloc.c lib/error.c lib/buf.c lib/file.c $(xml2-config --libs) -larchive
 *       -lutf8proc -o fuzz-epub
 * With -DQUIRE_FUZZ_STANDALONE instead of -fsanitize=fuzzer it runs the files it is given. */
#include <archive.h>
#include <archive_entry.h>

#include "tests/fuzz/fuzz-store.h"
#include "store/epub.h"

static const char *const part_names[] = {
	"META-INF/container.xml", "OEBPS/content.opf", "OEBPS/toc.ncx", "OEBPS/nav.xhtml",
	"OEBPS/ch1.xhtml", "OEBPS/ch2.xhtml",
};
#define N_PARTS (sizeof part_names / sizeof part_names[0])

/* Zip the parts of data (cut at "\n%%\n") with no compression; malloc'd. */
static char *zip_parts(const uint8_t *data, size_t size, size_t *zlen)
{
	const char *p = (const char *)data, *end = p + size;
	size_t cap = size + 512 * (N_PARTS + 2);
	char *z = xmalloc(cap);
	struct archive *a = archive_write_new();
	FCHECK(archive_write_set_format_zip(a) == ARCHIVE_OK);
	FCHECK(archive_write_set_options(a, "zip:compression=store") == ARCHIVE_OK);
	FCHECK(archive_write_open_memory(a, z, cap, zlen) == ARCHIVE_OK);
	for (size_t i = 0; i < N_PARTS && p <= end; i++) {
		const char *cut = NULL;
		for (const char *q = p; q + 4 <= end; q++)
			if (memcmp(q, "\n%%\n", 4) == 0) {
				cut = q;
				break;
			}
		size_t n = (size_t)((cut ? cut + 1 : end) - p);
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, part_names[i]);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, (la_int64_t)n);
		FCHECK(archive_write_header(a, e) == ARCHIVE_OK);
		FCHECK(n == 0 || archive_write_data(a, p, n) == (la_ssize_t)n);
		archive_entry_free(e);
		if (cut == NULL)
			break;
		p = cut + 4;
	}
	FCHECK(archive_write_close(a) == ARCHIVE_OK);
	archive_write_free(a);
	return z;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *book;
	size_t len;
	if (size >= 4 && memcmp(data, "PK\3\4", 4) == 0) {
		book = fuzz_copy(data, size);
		len = size;
	} else {
		char *z = zip_parts(data, size, &len);
		book = fuzz_copy((const uint8_t *)z, len);
		free(z);
	}
	/* Limits set here, not from ingest.c, so the target links without the database. */
	struct store_limits lim = {
		.max_total_bytes = 1u << 24, .max_doc_bytes = 1u << 16, .max_ratio = 1000,
		.ratio_floor = 1u << 20, .max_depth = 2, .max_entries = 10000, .max_line = 1u << 20,
	};
	struct buf text = BUF_INIT;
	struct sections secs = { 0 };
	char *title = NULL, *err = NULL;
	struct epub_map map = { 0 };
	if (epub_extract(book, len, &lim, &text, &secs, &title, &map, &err) == 0) {
		/* The map: notes in text order, each naming one of the book's files. */
		for (size_t i = 0; i < map.notes.n; i++) {
			FCHECK(i == 0 || map.notes.v[2 * i] > map.notes.v[2 * i - 2]);
			FCHECK(map.notes.v[2 * i] < text.len);
			FCHECK(EPUB_SRC_FILE(map.notes.v[2 * i + 1]) < map.n_files);
		}
		FCHECK(err == NULL);
		const char *x = text.data ? text.data : "";
		FCHECK(utf8_valid(x, text.len, NULL));
		FCHECK(text.len <= lim.max_doc_bytes);
		sections_finish(&secs, x, text.len);
		fuzz_check_sections(&secs, x, text.len, 1);
		if (title)
			FCHECK(utf8_valid(title, strlen(title), NULL));
	} else {
		FCHECK(err != NULL && *err != '\0');
	}
	FCHECK(map.notes.n == 0 || map.n_files > 0);
	epub_map_free(&map);
	free(title);
	free(err);
	sections_free(&secs);
	buf_free(&text);
	free(book);
	return 0;
}
