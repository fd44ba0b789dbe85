// The gossip wire codec: Envelope <-> bytes (CBOR through nlohmann/json), and the framing the
// TCP transport uses. Versioned: every envelope starts with the protocol version range; body type
// numbers are append-only. Every decoded length and count has a hard limit (message.h), checked
// before anything is allocated for it, so a hostile peer cannot make the decoder allocate more
// than the frame it sent plus a bounded overhead.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "gossip/message.h"

namespace esk8s::gossip {

// Encodes `e`. REQUIRES: `e` respects the limits of message.h (the core never builds one that
// does not); the result is at most kMaxFrameBytes.
std::vector<uint8_t> encode(const Envelope& e);

// Decodes one envelope. Errors (invalid_argument) say what was wrong ("update 3: identity is 300
// bytes, limit 253") and never echo more than 64 bytes of the input.
Result<Envelope> decode(std::span<const uint8_t> bytes);

// Framing on a byte stream: a 4-byte big-endian length, then that many bytes of encode() output.
// A length of 0 or above kMaxFrameBytes is a protocol error (the transport closes the connection).
inline constexpr size_t kFrameHeaderBytes = 4;
void append_frame_header(std::vector<uint8_t>& out, uint32_t length);
// The length in a 4-byte header; error when 0 or > kMaxFrameBytes.
Result<uint32_t> parse_frame_header(std::span<const uint8_t, kFrameHeaderBytes> header);

}  // namespace esk8s::gossip
