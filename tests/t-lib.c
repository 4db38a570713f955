/* t-lib.c: lib/: buffers, error strings, overflow checks, atomic file replacement, XDG paths. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/file.h"
#include "lib/util.h"
#include "tests/tap.h"

int main(void)
{
	struct buf b = BUF_INIT;
	for (int i = 0; i < 1000; i++)
		buf_printf(&b, "%d,", i);
	ok(b.len == strlen(b.data), "buf keeps a NUL after its data");
	ok(strncmp(b.data, "0,1,2,", 6) == 0 && strstr(b.data, "999,") != NULL, "buf_printf appends");
	buf_reset(&b);
	is_int((long long)b.len, 0, "buf_reset empties");
	buf_append(&b, "a\0b", 3);
	is_int((long long)b.len, 3, "buf_append takes binary data");
	char *s = buf_steal(&b);
	ok(s[0] == 'a' && s[1] == '\0' && s[2] == 'b' && b.data == NULL, "buf_steal hands over");
	free(s);

	char *err = NULL;
	is_int(q_error(&err, "%s: %d", "file", 7), -1, "q_error returns -1");
	is_str(err, "file: 7", "q_error formats the message");
	q_error(&err, "second");
	is_str(err, "second", "q_error replaces an earlier message");
	free(err);
	err = NULL;

	size_t out;
	ok(q_mul_size(SIZE_MAX / 2 + 1, 2, &out) != 0, "q_mul_size catches overflow");
	ok(q_mul_size(1000, 1000, &out) == 0 && out == 1000000, "q_mul_size multiplies");
	uint64_t u;
	ok(q_add_u64(UINT64_MAX, 1, &u) != 0, "q_add_u64 catches overflow");

	char dir[] = "/tmp/quire-t-lib.XXXXXX";
	ok(mkdtemp(dir) != NULL, "temp dir");
	char *nested = xasprintf("%s/a/b/c", dir);
	ok(dir_make_all(nested, &err) == 0, "dir_make_all creates nested folders");
	char *path = xasprintf("%s/f.txt", nested);
	ok(file_replace_atomic(path, "first", 5, &err) == 0, "atomic write");
	ok(file_replace_atomic(path, "second!", 7, &err) == 0, "atomic replace");
	char *data;
	size_t len;
	ok(file_read_all(path, 1 << 20, &data, &len, &err) == 0 && len == 7 &&
	    memcmp(data, "second!", 7) == 0, "read back the replacement");
	free(data);
	ok(file_read_all(path, 3, &data, &len, &err) == -1 && strstr(err, "limit") != NULL,
	    "file_read_all enforces its size limit");
	ok(strstr(err, path) != NULL, "the error names the file");
	char *tmpname = xasprintf("%s.tmp.%ld", path, (long)getpid());
	ok(access(tmpname, F_OK) != 0, "no temp file is left behind");
	char *missing = xasprintf("%s/none", dir);
	ok(file_read_all(missing, 10, &data, &len, &err) == -1 && strstr(err, missing) != NULL,
	    "a missing file is an error naming it");
	ok(file_read_all(dir, 10, &data, &len, &err) == -1 && strstr(err, "not a regular file"),
	    "a directory is refused");
	char *ro = xasprintf("%s/ro", dir);
	ok(dir_make_all(ro, &err) == 0 && chmod(ro, 0500) == 0, "read-only folder");
	char *rof = xasprintf("%s/x", ro);
	if (geteuid() == 0)
		skip(1, "root ignores directory permissions");
	else
		ok(file_replace_atomic(rof, "x", 1, &err) == -1 && strstr(err, "open"),
		    "a failed replace says which step failed");

	setenv("XDG_DATA_HOME", "/x/data", 1);
	char *d = xdg_data_dir();
	is_str(d, "/x/data/quire", "XDG_DATA_HOME is honoured");
	free(d);
	setenv("XDG_DATA_HOME", "relative/ignored", 1);
	setenv("HOME", "/home/u", 1);
	d = xdg_data_dir();
	is_str(d, "/home/u/.local/share/quire", "a relative XDG_DATA_HOME is ignored, per the spec");
	free(d);
	unsetenv("XDG_CONFIG_HOME");
	d = xdg_config_dir();
	is_str(d, "/home/u/.config/quire", "config dir defaults to ~/.config/quire");
	free(d);

	char *cmd = xasprintf("rm -rf '%s'", dir);
	chmod(ro, 0700);
	ok(system(cmd) == 0, "cleanup");
	free(cmd), free(nested), free(path), free(tmpname), free(missing), free(ro), free(rof),
	    free(err);
	done_testing();
	return exit_status();
}
