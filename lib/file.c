/* file.c: file I/O done carefully: bounded reads, crash-safe replacement, full reads and
 * writes at an offset. */
#include "lib/file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util.h"

int file_open_regular(const char *path, struct stat *st, char **err)
{
	/* O_NONBLOCK: opening a FIFO must not wait for a writer; fstat() refuses it next. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return q_error(err, "%s: %s", path, strerror(errno));
	if (fstat(fd, st) != 0) {
		int e = errno;
		close(fd);
		return q_error(err, "%s: %s", path, strerror(e));
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		return q_error(err, "%s: not a regular file", path);
	}
	return fd;
}

int file_read_all(const char *path, size_t max_bytes, char **data, size_t *len, char **err)
{
	struct stat st;
	int fd = file_open_regular(path, &st, err);
	if (fd < 0)
		return -1;
	if ((unsigned long long)st.st_size > max_bytes) {
		close(fd);
		return q_error(err, "%s: file is %lld bytes, more than the limit of %zu",
		    path, (long long)st.st_size, max_bytes);
	}
	size_t cap = (size_t)st.st_size, n = 0;
	char *p = xmalloc(cap + 1);
	for (;;) {
		if (n == cap) {
			/* The file grew while we read it: keep within the limit. */
			if (cap >= max_bytes)
				break;
			cap = cap * 2 + 4096 < max_bytes ? cap * 2 + 4096 : max_bytes;
			p = xrealloc(p, cap + 1);
		}
		ssize_t r = read(fd, p + n, cap - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			free(p);
			close(fd);
			return q_error(err, "%s: read: %s", path, strerror(e));
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	p[n] = '\0';
	*data = p;
	*len = n;
	return 0;
}

int file_sync_dir_of(const char *path)
{
	char *copy = xstrdup(path);
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(copy);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

int file_replace_atomic(const char *path, const void *data, size_t len, char **err)
{
	char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	const char *what = "open";
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		goto fail;
	what = "write";
	const char *p = data;
	size_t left = len;
	while (left > 0) {
		ssize_t w = write(fd, p, left);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		p += w;
		left -= (size_t)w;
	}
	what = "fsync";
	if (fsync(fd) != 0)
		goto fail;
	what = "close";
	int rc = close(fd);
	fd = -1;
	if (rc != 0)
		goto fail;
	what = "rename";
	if (rename(tmp, path) != 0)
		goto fail;
	what = "fsync of the directory";
	if (file_sync_dir_of(path) != 0)
		goto fail;
	free(tmp);
	return 0;
fail:;
	int e = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	free(tmp);
	return q_error(err, "%s: %s: %s", path, what, strerror(e));
}

int file_pread_full(int fd, const char *path, uint64_t off, void *dst, size_t n, char **err)
{
	uint8_t *p = dst;
	while (n > 0) {
		ssize_t r = pread(fd, p, n, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return q_error(err, "%s: read at byte %llu: %s", path,
			    (unsigned long long)off, strerror(errno));
		if (r == 0)
			return 1;
		p += r;
		off += (uint64_t)r;
		n -= (size_t)r;
	}
	return 0;
}

int file_pwrite_full(int fd, const char *path, uint64_t off, const void *src, size_t n,
    char **err)
{
	const uint8_t *p = src;
	while (n > 0) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return q_error(err, "%s: write at byte %llu: %s", path,
			    (unsigned long long)off, w < 0 ? strerror(errno) : "no progress");
		p += w;
		off += (uint64_t)w;
		n -= (size_t)w;
	}
	return 0;
}

int dir_make_all(const char *path, char **err)
{
	char *p = xstrdup(path);
	for (char *s = p + 1; ; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;
			*s = '\0';
			if (mkdir(p, 0700) != 0 && errno != EEXIST) {
				int e = errno;
				int rc = q_error(err, "%s: cannot create directory: %s", p, strerror(e));
				free(p);
				return rc;
			}
			*s = c;
			if (c == '\0')
				break;
		}
	}
	struct stat st;
	if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
		free(p);
		return q_error(err, "%s: not a directory", path);
	}
	free(p);
	return 0;
}

static char *xdg_dir(const char *var, const char *fallback)
{
	const char *v = getenv(var);
	if (v != NULL && v[0] == '/')
		return xasprintf("%s/quire", v);
	const char *home = getenv("HOME");
	if (home == NULL || home[0] == '\0')
		home = "/tmp";
	return xasprintf("%s/%s/quire", home, fallback);
}

char *xdg_data_dir(void)
{
	return xdg_dir("XDG_DATA_HOME", ".local/share");
}

char *xdg_config_dir(void)
{
	return xdg_dir("XDG_CONFIG_HOME", ".config");
}
