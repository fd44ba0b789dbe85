// Files of key material: written atomically with the right mode from the first byte, read back
// with a size limit, and private keys refused when other users could read them.
//
// Writes go to a temporary file in the destination directory created by open() with the final
// mode (0600 for keys, so a key is never readable by others, not even for a moment), then are
// fsync'ed, renamed over the destination and the directory is fsync'ed: a reader sees the old
// file or the new one, never half of one, and a crash leaves no truncated key behind.
//
// Key material never appears in any Status message: only paths, modes and errno text.
//
// Thread-safety: free functions; concurrent writers of the same path each produce a whole file
// (the last rename wins).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "common/file.h"
#include "common/status.h"

namespace esk8s::tls {

// Largest PEM file read (a trust bundle of many CAs fits many times over).
constexpr size_t kMaxPemFileBytes = kMaxSmallFileBytes;

constexpr mode_t kPrivateKeyFileMode = 0600;
constexpr mode_t kCertificateFileMode = 0644;

// Atomically replaces `path` with `content`, mode exactly `mode` (the umask does not apply).
// REQUIRES: the directory of `path` exists.
Status write_file_atomically(const std::string& path, std::string_view content, mode_t mode);

// write_file_atomically with mode 0600.
Status write_private_key_file(const std::string& path, std::string_view key_pem);
// write_file_atomically with mode 0644.
Status write_certificate_file(const std::string& path, std::string_view cert_pem);

// The content of `path` (at most kMaxPemFileBytes), read with read_regular_file
// (common/file.h): a FIFO, a device or a directory is refused without blocking. `what` names the
// file in errors ("the CA certificate"). Follows symlinks (Kubernetes Secret volumes are
// symlinks).
Result<std::string> read_pem_file(const std::string& path, std::string_view what);

// Like read_pem_file, but refuses a file that other users may read or write, or that its group
// may write:
//   "CA key /x/ca.key is readable by other users (mode 0644); run chmod 600 /x/ca.key".
// Group read is accepted: Kubernetes adds it to Secret volume files when the pod sets fsGroup.
// `what` starts the sentence ("CA key"). The mode is taken from the opened descriptor, so the
// file checked is the file read.
Result<std::string> read_private_key_file(const std::string& path, std::string_view what);

// "0644": a mode as operators write it.
std::string format_mode(mode_t mode);

}  // namespace esk8s::tls
