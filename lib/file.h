/* file.h: whole-file reads, durable whole-file replacement (temp + fsync + rename + fsync of
 * the directory), full reads and writes at an offset, directory creation and the XDG
 * locations quire keeps its files in. */
#ifndef QUIRE_LIB_FILE_H
#define QUIRE_LIB_FILE_H

#include <stddef.h>
#include <stdint.h>

struct stat;

/* Open path read-only if it is a regular file, filling *st: returns the descriptor, or -1 with
 * "PATH: what went wrong" in *err. Opening never waits (a FIFO is refused, not read). */
int file_open_regular(const char *path, struct stat *st, char **err);

/* Read a whole regular file of at most max_bytes into a malloc'd, NUL-terminated buffer. */
int file_read_all(const char *path, size_t max_bytes, char **data, size_t *len, char **err);

/* Replace path with data durably: write path.tmp.PID, fsync, rename over path, fsync the
 * directory. A crash leaves either the old file or the new one, never a mix. */
int file_replace_atomic(const char *path, const void *data, size_t len, char **err);

/* fsync the directory holding path: 0, or -1 with errno set. */
int file_sync_dir_of(const char *path);

/* Read n bytes at off from fd (path names it in messages), retrying on EINTR: 0, 1 if the file
 * ends first, -1 on an I/O error with "PATH: read at byte N: why" in *err. */
int file_pread_full(int fd, const char *path, uint64_t off, void *dst, size_t n, char **err);

/* Write n bytes at off to fd, retrying on EINTR: 0, or -1 with "PATH: write at byte N: why" in
 * *err ("no progress" when pwrite writes nothing). */
int file_pwrite_full(int fd, const char *path, uint64_t off, const void *src, size_t n,
    char **err);

/* mkdir -p with mode 0700 for the created components. */
int dir_make_all(const char *path, char **err);

/* XDG base directories with quire's subfolder: $XDG_DATA_HOME/quire (default
 * ~/.local/share/quire) and $XDG_CONFIG_HOME/quire (default ~/.config/quire). Malloc'd. */
char *xdg_data_dir(void);
char *xdg_config_dir(void);

#endif
