// Text that came from outside the process (identities from gossip, configuration values, file
// contents, API answers) made safe to put into a log record or an error message: it can neither
// start a new line (forging a record) nor send a terminal escape sequence, and it has a length
// bound.
//
// What is escaped, byte by byte:
//   \n \r \t                     -> "\n" "\r" "\t"
//   other bytes < 0x20, and 0x7f -> "\xNN" (lower-case hex)
//   bytes that are not part of well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates,
//   nothing above U+10FFFF)      -> "\xNN" for each such byte
//   C1 controls U+0080..U+009F (U+009B is a CSI to some terminals) and the line and paragraph
//   separators U+2028/U+2029 -> "\u0085", "\u2028", ...
// Everything else, backslashes included, passes through unchanged. Backslashes are not doubled
// so that text escaped once (a configuration error quoting a value) is not escaped again when it
// is logged: escape_untrusted(escape_untrusted(x)) == escape_untrusted(x) when nothing was cut.
// The escapes make lines unforgeable, not the text reversible.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace esk8s {

inline constexpr size_t kNoLengthLimit = static_cast<size_t>(-1);

// True when escape_untrusted would change `text` (ignoring the length limit). Cheap; lets callers
// skip a copy for the common, clean case.
bool needs_escaping(std::string_view text);

// `text` escaped as described above. When the escaped text would exceed `max_bytes`, it is cut
// at a character boundary (never inside an escape or a UTF-8 sequence) and
// "...(N more bytes)" is appended, N counting the input bytes left out; so the result is at
// most max_bytes plus the marker's length.
std::string escape_untrusted(std::string_view text, size_t max_bytes = kNoLengthLimit);

// For logs, errors and echoed requests quoting offending input: its first `max` bytes (cut before
// a character that would cross `max`), escaped as escape_untrusted does, followed by "..." when
// anything was cut off. The cut is decided by the first `max` bytes alone (a prefix longer than
// `max` gives the same result whatever follows it), so a quote of a stream does not depend on
// how the stream was split.
std::string truncate_for_log(std::string_view bytes, size_t max = 200);

}  // namespace esk8s
