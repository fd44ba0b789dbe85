// The gossip protocol's messages as plain values: what the sans-IO core (core.h) consumes and
// produces and what the wire codec (wire.h) encodes. No I/O, no OpenSSL, no JSON here.
//
// Ordering of claims about one identity (the rule every part of gossip applies):
//   1. a claim from a newer instance (InstanceId compares by start time first) wins;
//   2. for the same instance, the higher incarnation wins;
//   3. for the same instance and incarnation, Left > Dead > Suspect > Alive.
// So a restarted process (new instance) takes over its identity at once, whatever it said before
// (even when it was declared dead), and a stale process can never take the identity back.
//
// Thread-safety: plain values.
#pragma once

#include <chrono>
#include <compare>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace esk8s::gossip {

// Time is an input to everything in gossip: real steady_clock time in the driver, virtual time in
// the simulator. The core never reads a clock.
using Time = std::chrono::steady_clock::time_point;
using Duration = std::chrono::steady_clock::duration;

// Protocol versions this build speaks. Every envelope carries the sender's [min, max]; a receiver
// accepts it when the ranges overlap and drops (and counts) it otherwise.
// Version 2: member records carry the member's own signature (signed self-claims, claim.h);
// version-1 peers, whose records are unsigned, are dropped and counted as bad_version.
inline constexpr uint16_t kProtocolVersionMin = 2;
inline constexpr uint16_t kProtocolVersionMax = 2;

// Hard limits, enforced by the codec on decode and by the core on what it accepts.
inline constexpr size_t kMaxIdentityBytes = 253;      // a DNS name
inline constexpr size_t kMaxAddressBytes = 253;       // IP literal or host name
inline constexpr size_t kMaxClusterNameBytes = 63;    // a DNS label
inline constexpr size_t kMaxMetaBytes = 1024;         // opaque host metadata per member
inline constexpr size_t kMaxPiggybackUpdates = 64;    // updates carried by one message
inline constexpr size_t kMaxPushPullMembers = 16384;  // member records in one push-pull
inline constexpr size_t kMaxFrameBytes = 8u << 20;    // one encoded envelope (8 MiB)
inline constexpr size_t kMaxCredentialBytes = 4096;   // a member's certificate (DER)
inline constexpr size_t kMaxSignatureBytes = 512;     // RSA-4096 at most

// A random 128-bit id chosen at every process start, ordered by start time: `hi` holds the
// process start in Unix milliseconds in its top 48 bits and 16 random bits, `lo` 64 random bits.
// All zero means "unknown" (a seed from discovery that has not spoken yet).
struct InstanceId {
  uint64_t hi = 0;
  uint64_t lo = 0;

  bool is_zero() const { return hi == 0 && lo == 0; }
  // Lexicographic on (hi, lo): a later start compares greater.
  friend auto operator<=>(const InstanceId&, const InstanceId&) = default;

  // 8-4-4-4-12 lower-case hex of the 16 bytes hi (big-endian) then lo (big-endian).
  std::string to_guid() const;
  // Builds an id from a start time and 80 random bits (`random_hi16` low 16 bits used).
  static InstanceId make(uint64_t start_unix_ms, uint64_t random_hi16, uint64_t random_lo);
};

enum class MemberState : uint8_t { kAlive = 0, kSuspect = 1, kDead = 2, kLeft = 3 };
// "alive", "suspect", "dead", "left".
const char* to_string(MemberState s);

// One member's claim as it travels: in piggybacked updates and in push-pull state.
struct MemberRecord {
  std::string identity;  // stable DNS identity (the key)
  InstanceId instance;
  uint64_t incarnation = 0;
  std::string address;  // where the member's gossip listener is (IP literal or host name)
  uint16_t port = 0;    // gossip port
  MemberState state = MemberState::kAlive;
  std::string meta;  // opaque host metadata (<= kMaxMetaBytes); meaningful with kAlive
  // For kSuspect/kDead: the identity of the member that raised the suspicion or declared the
  // death (Lifeguard counts independent confirmations by this). Empty otherwise.
  std::string accuser;
  // The member's own proof of the record (claim.h): `credential` is what a receiver needs to
  // check it (the member's certificate, DER, in production), `signature` the member's signature
  // over signed_claim_bytes(). Suspect and Dead records carry the proof of the Alive record they
  // accuse, so an accusation can only name an incarnation the member itself signed.
  std::string credential;
  std::string signature;

  friend bool operator==(const MemberRecord&, const MemberRecord&) = default;
};

// Message bodies. WARNING: the wire type numbers in wire.cc are append-only; a new body gets a new
// number, an old number is never reused.

// Direct probe. The receiver answers with an Ack carrying `seq` only when `target` is its own
// identity (a ping that reaches a different process at a recycled address is not acknowledged).
struct Ping {
  uint32_t seq = 0;
  std::string target;
};

// "Please probe `target` at address:port for me and tell me": the receiver pings the target and
// relays an Ack with `seq` to the requester when the target answers; when `want_nack` it sends
// a Nack with `seq` if the target does not answer within its probe timeout (Lifeguard).
// A receiver relays only to a live member it knows at exactly the address and port that member
// signed (so a member cannot make another dial an arbitrary host:port).
struct IndirectPing {
  uint32_t seq = 0;
  std::string target;
  std::string address;
  uint16_t port = 0;
  bool want_nack = true;
};

struct Ack {
  uint32_t seq = 0;
};

struct Nack {
  uint32_t seq = 0;
};

// Anti-entropy: the sender's full membership view (itself included). `reply` is false on the
// initiating side; the receiver merges and answers with its own view and reply = true. `join` is
// set when the sender has just started (the receiver then answers even if it is busy).
struct PushPull {
  bool join = false;
  bool reply = false;
  std::vector<MemberRecord> members;
};

using Body = std::variant<Ping, IndirectPing, Ack, Nack, PushPull>;

// Every message. The receiver drops (and counts) envelopes whose `cluster` differs from its own,
// whose version range does not overlap its own, or whose `from` differs from the identity the
// transport authenticated (TLS certificate SAN).
struct Envelope {
  std::string cluster;
  uint16_t version_min = kProtocolVersionMin;
  uint16_t version_max = kProtocolVersionMax;
  std::string from;  // sender identity
  InstanceId from_instance;
  Body body;
  std::vector<MemberRecord> updates;  // piggybacked state changes, <= kMaxPiggybackUpdates
};

}  // namespace esk8s::gossip
