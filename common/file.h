// The one way esk8s reads a small file that someone else put on disk: PEM files, private keys,
// service-account tokens and ca.crt, kubeconfigs, resolv.conf, the fault file. Whatever sits at
// the path is not trusted to be what its name says: a FIFO would block the reader (and with it the
// event loop and SIGTERM handling), a device such as /dev/zero never ends, a huge file would be
// held in memory. So the file is opened without blocking (O_NONBLOCK: opening a FIFO does not
// wait for a writer), its type is taken from the opened descriptor (fstat, so the file checked is
// the file read), anything but a regular file is refused, and so is a file over a size bound,
// both before a byte is read. Symlinks are followed: Kubernetes Secret and ConfigMap volumes are
// symlinks into a timestamped directory.
//
// Errors name the file and what is wrong with it:
//   "CA certificate /etc/esk8s/ca/ca.crt is a FIFO, not a regular file; esk8s reads only regular
//    files (or symlinks to them)".
//
// Thread-safety: free functions; no shared state.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace esk8s {

// The bound for the files esk8s reads (a trust bundle of many CAs, a token, a kubeconfig, the
// fault file all fit many times over).
inline constexpr size_t kMaxSmallFileBytes = 1 << 20;

// A check of the opened file before it is read (its mode, say); a non-ok Status stops the read
// and is returned unchanged.
using OpenedFileCheck = std::function<Status(const struct stat&)>;

// The whole content of the regular file at `path`, at most `max_bytes` of it. `what` names the
// file in errors ("CA certificate", "token file"). Errors: not_found when nothing is at `path`;
// invalid_argument when it is not a regular file or is larger than `max_bytes`; io when it cannot
// be opened or read; or what `check` returned. Never blocks on a FIFO or a device.
Result<std::string> read_regular_file(const std::string& path, size_t max_bytes,
                                      std::string_view what = "file",
                                      const OpenedFileCheck& check = nullptr);

// "a regular file", "a FIFO", "a directory", "a character device", "a block device",
// "a socket", "a symlink", or "an unknown kind of file": for messages.
std::string_view describe_file_type(mode_t mode);

}  // namespace esk8s
