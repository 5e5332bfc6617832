/*
 * Shared file mappings for the write-ahead log (adapters/disk/mapping.ts).
 *
 * Node has no mmap. The log copies each group of records into a MAP_SHARED
 * mapping of its segment file instead of calling write(2): the bytes are in
 * the page cache the moment the copy ends, as they are after a write, so
 * they survive a crash of the process, and fdatasync(2) on the file flushes
 * them (Linux tracks the pages dirtied through a shared mapping).
 *
 * Three exports:
 * - map(fd, offset, length): an ArrayBuffer over file bytes
 *   [offset, offset + length), read-write and shared. offset is a multiple
 *   of pageBytes. The caller makes sure those bytes exist in the file
 *   (written, not a hole): a store to a page past the end of the file, or
 *   to a hole the file system cannot allocate, raises SIGBUS.
 * - unmap(buffer): releases the file's pages at once and detaches the
 *   buffer (its length becomes 0), so a stale view throws instead of
 *   touching freed memory. The address range stays reserved, inaccessible,
 *   until the buffer is collected.
 * - pageBytes: the system's page size.
 *
 * Failures throw an Error whose code is the errno name (ENOMEM, EACCES...).
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static const char *errno_name (int err) {
  switch (err) {
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EAGAIN: return "EAGAIN";
    case EBADF: return "EBADF";
    case EINVAL: return "EINVAL";
    case ENFILE: return "ENFILE";
    case ENODEV: return "ENODEV";
    case EOVERFLOW: return "EOVERFLOW";
    case EPERM: return "EPERM";
    default: return "EIO";
  }
}

static napi_value throw_code (napi_env env, const char *code, const char *what) {
  char message[160];
  snprintf(message, sizeof message, "%s: %s", code, what);
  napi_value c, m, e;
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c);
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, c, m, &e);
  napi_throw(env, e);
  return NULL;
}

static napi_value throw_errno (napi_env env, int err, const char *call) {
  char what[120];
  snprintf(what, sizeof what, "%s failed: %s", call, strerror(err));
  return throw_code(env, errno_name(err), what);
}

/* Called when the buffer is collected: frees its address range (the file
 * mapping, or the inaccessible reservation unmap left in its place). */
static void release (napi_env env, void *data, void *hint) {
  (void)env;
  munmap(data, (size_t)(uintptr_t)hint);
}

static napi_value map (napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 3) {
    return throw_code(env, "EINVAL", "map(fd, offset, length) takes three numbers");
  }
  int32_t fd;
  int64_t offset, length;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_value_int64(env, argv[1], &offset) != napi_ok ||
      napi_get_value_int64(env, argv[2], &length) != napi_ok) {
    return throw_code(env, "EINVAL", "map(fd, offset, length) takes three numbers");
  }
  long page = sysconf(_SC_PAGESIZE);
  if (fd < 0 || offset < 0 || length <= 0 || offset % page != 0) {
    return throw_code(env, "EINVAL", "map needs fd >= 0, a page-aligned offset >= 0 and a length > 0");
  }
  void *p = mmap(NULL, (size_t)length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)offset);
  if (p == MAP_FAILED) return throw_errno(env, errno, "mmap");
  napi_value buffer;
  napi_status st = napi_create_external_arraybuffer(env, p, (size_t)length, release, (void *)(uintptr_t)length, &buffer);
  if (st != napi_ok) {
    munmap(p, (size_t)length);
    return throw_code(env, "ENOTSUP", "this runtime does not allow external ArrayBuffers");
  }
  return buffer;
}

static napi_value unmap (napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  bool is_buffer = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1 ||
      napi_is_arraybuffer(env, argv[0], &is_buffer) != napi_ok || !is_buffer) {
    return throw_code(env, "EINVAL", "unmap(buffer) takes an ArrayBuffer from map");
  }
  void *data;
  size_t length;
  if (napi_get_arraybuffer_info(env, argv[0], &data, &length) != napi_ok) {
    return throw_code(env, "EINVAL", "unmap(buffer) takes an ArrayBuffer from map");
  }
  if (length == 0) return NULL; /* already unmapped (detached) */
  /* Replace the file mapping by an inaccessible anonymous one of the same
   * range: the file's pages are let go now, and the range cannot be handed
   * to another mapping before release() frees it. */
  void *q = mmap(data, length, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
  if (q == MAP_FAILED) return throw_errno(env, errno, "mmap (unmap)");
  if (napi_detach_arraybuffer(env, argv[0]) != napi_ok) {
    return throw_code(env, "EINVAL", "cannot detach the mapped buffer");
  }
  return NULL;
}

NAPI_MODULE_INIT () {
  napi_value fn, page;
  napi_create_function(env, "map", NAPI_AUTO_LENGTH, map, NULL, &fn);
  napi_set_named_property(env, exports, "map", fn);
  napi_create_function(env, "unmap", NAPI_AUTO_LENGTH, unmap, NULL, &fn);
  napi_set_named_property(env, exports, "unmap", fn);
  napi_create_int64(env, (int64_t)sysconf(_SC_PAGESIZE), &page);
  napi_set_named_property(env, exports, "pageBytes", page);
  return exports;
}
