/*
 * esk8s plugin C ABI — the only public header of libesk8s.so.
 *
 * A database node ("the host") loads libesk8s.so with dlopen(RTLD_NOW | RTLD_LOCAL), looks up the
 * one exported entry point `esk8s_init` and calls it with its own function table and its
 * configuration. esk8s_init creates a plugin instance and returns the plugin's function table;
 * everything else goes through the two tables.
 *
 *   const esk8s_plugin_api* api = NULL;
 *   esk8s_plugin* plugin = NULL;
 *   char* error = NULL;
 *   if (esk8s_init(&host, cfg, cfg_count, &api, &plugin, &error) != ESK8S_OK) {
 *     fprintf(stderr, "%s\n", error);
 *     if (api) api->free_error(error);
 *     ...
 *   }
 *   api->start(plugin, &error);   ...   api->stop(plugin, &error);   api->destroy(plugin);
 *   dlclose(handle);
 *
 * Versioning. Both tables start with { struct_size, abi_major, abi_minor } and only ever grow at
 * the end. A minor bump appends fields; a major bump means an incompatible change and the plugin
 * refuses a host of another major version with a message (and a host should refuse a plugin table
 * of another major). A field is present in a table only if its offset lies within struct_size; a
 * behaviour change is a new `_v2` field, the old field stays.
 *
 * Errors. Functions return an esk8s_status. On failure they may store a message in `*out_error`:
 * a NUL-terminated string allocated by the plugin, which the host must release with
 * `api->free_error` (never with free()). No C++ exception ever crosses this boundary.
 *
 * Strings. Strings handed across in structs are { ptr, len } pairs (esk8s_str), not necessarily
 * NUL-terminated. Their lifetime is stated at each use.
 *
 * Threads. The plugin runs its own threads (an event loop and an HTTP server). Host callbacks are
 * invoked on those threads, never on a host thread, and must not call stop or destroy (that would
 * wait for the calling thread itself). `stop` cancels and joins every plugin thread before it
 * returns, so the host may dlclose the library right after stop (or destroy) returns.
 *
 * C99; depends on <stdint.h> and <stddef.h> only.
 */
#ifndef ESK8S_PLUGIN_H_
#define ESK8S_PLUGIN_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define ESK8S_EXPORT __attribute__((visibility("default")))
#else
#define ESK8S_EXPORT
#endif

/* ABI version of this header. */
#define ESK8S_ABI_MAJOR 1
#define ESK8S_ABI_MINOR 1

/* A string view: `len` bytes at `ptr`, not necessarily NUL-terminated. `ptr` may be NULL only
 * when `len` is 0. Ownership is stated wherever the type is used. */
typedef struct esk8s_str {
  const char* ptr;
  size_t len;
} esk8s_str;

/* A configuration entry or a structured log field. */
typedef struct esk8s_kv {
  esk8s_str key;
  esk8s_str value;
} esk8s_kv;

typedef enum esk8s_status {
  ESK8S_OK = 0,
  ESK8S_ERR_INVALID_ARGUMENT = 1, /* a NULL or malformed argument */
  ESK8S_ERR_ABI_MISMATCH = 2,     /* host table of an unsupported major version or too small */
  ESK8S_ERR_CONFIG = 3,           /* a configuration key or value was rejected */
  ESK8S_ERR_STATE = 4,            /* wrong lifecycle state (e.g. start while running) */
  ESK8S_ERR_IO = 5,               /* a socket or file operation failed (e.g. port in use) */
  ESK8S_ERR_INTERNAL = 6          /* a bug in esk8s; the message says what */
} esk8s_status;

typedef enum esk8s_log_level {
  ESK8S_LOG_TRACE = 0,
  ESK8S_LOG_DEBUG = 1,
  ESK8S_LOG_INFO = 2,
  ESK8S_LOG_WARN = 3,
  ESK8S_LOG_ERROR = 4
} esk8s_log_level;

/* A member's state as this node sees it. Values are append-only. */
typedef enum esk8s_member_state {
  ESK8S_MEMBER_DISCOVERED = 0, /* known from discovery, not yet heard from over gossip */
  ESK8S_MEMBER_ALIVE = 1,
  ESK8S_MEMBER_SUSPECT = 2,
  ESK8S_MEMBER_DEAD = 3,
  ESK8S_MEMBER_LEFT = 4
} esk8s_member_state;

/* The database's own status, provided by the host (see esk8s_host_api.node_status) and
 * disseminated through gossip. Field names follow EventStoreDB's gossip format.
 *
 * Growth: the plugin zero-fills the struct and sets `struct_size` to the size it knows; the host
 * writes only fields whose end lies within `struct_size` (an older plugin passes a smaller
 * struct). Fields a host does not know stay zero, and zero means "not set" for every field added
 * after ABI 1.0. Statuses the plugin hands out (esk8s_member.status) follow the same rule: read
 * only fields within their `struct_size`. */
typedef struct esk8s_node_status {
  uint32_t struct_size;
  /* 1 when the database is ready to serve clients; part of /health/ready. */
  int32_t host_ready;
  /* VNodeState name, NUL-terminated: "Leader", "Follower", "ReadOnlyReplica", "Initializing",
   * "DiscoverLeader", "CatchingUp", "Clone", "PreLeader", "PreReplica", "Manager", "Shutdown", ...
   */
  char state[32];
  int64_t writer_checkpoint;
  int64_t chaser_checkpoint;
  int64_t last_commit_position;
  int64_t epoch_position;
  int32_t epoch_number;
  int32_t node_priority;
  uint8_t epoch_id[16]; /* a GUID in RFC 4122 byte order; all zero when unknown */
  int32_t is_read_only_replica;
  /* The client-facing endpoints, as EventStoreDB's /gossip advertises them (ClientMemberInfo).
   * Ports are 0 when not served. Since ABI 1.0 internal_tcp_port and external_tcp_port are the
   * TCP ports served with TLS (/gossip: internalSecureTcpPort, externalSecureTcpPort); the plain
   * ports of a node without TLS are the ABI 1.1 `*_insecure_tcp_port` fields below. */
  uint16_t internal_tcp_port;
  uint16_t external_tcp_port;
  uint16_t http_port; /* the database's HTTP port (/gossip: httpEndPointPort) */
  uint16_t reserved0;
  char version[32]; /* database version, NUL-terminated, e.g. "24.10.0" */
  /* Never read: in ABI 1.0 these bytes were the struct's trailing padding, which a 1.0 host's
   * struct copy may fill with anything. Later fields start past the 1.0 struct's size. */
  uint32_t reserved1;

  /* ---- ABI 1.1. A 1.0 host leaves these zero: no plain TCP ports, every host is the member's
   * identity (its stable DNS name), nothing advertised differently to clients. ---- */

  /* Plain (non-TLS) TCP ports, as a node started with EventStoreDB's --insecure serves them
   * (/gossip: internalTcpPort, externalTcpPort). */
  uint16_t internal_insecure_tcp_port;
  uint16_t external_insecure_tcp_port;
  /* EventStoreDB's AdvertiseHttpPortToClientAs / AdvertiseTcpPortToClientAs: when non-zero,
   * clients are told this HTTP port (httpEndPointPort) and this TCP port (both externalTcpPort
   * and externalSecureTcpPort), e.g. the ports of a load balancer in front of the node. */
  uint16_t advertise_http_port_to_client_as;
  uint16_t advertise_tcp_port_to_client_as;
  /* Host names or IP addresses, NUL-terminated, at most 127 bytes; empty means the member's
   * identity. internal_tcp_host: internalTcpIp; external_tcp_host: externalTcpIp; http_host:
   * internalHttpEndPointIp and httpEndPointIp; advertise_host_to_client_as (EventStoreDB's
   * option of that name): when set, it is what clients are told for externalTcpIp and
   * httpEndPointIp. */
  char internal_tcp_host[128];
  char external_tcp_host[128];
  char http_host[128];
  char advertise_host_to_client_as[128];
} esk8s_node_status;

/* One member of a membership snapshot. All pointers (strings and `status`) are owned by the
 * plugin and valid only for the duration of the callback that received them; copy what you keep. */
typedef struct esk8s_member {
  uint32_t struct_size;
  int32_t state; /* an esk8s_member_state value; ABI structs hold no enum-typed field */
  esk8s_str identity; /* stable DNS identity, e.g. "esdb-1.esdb.prod.svc.cluster.local" */
  esk8s_str address;  /* current IP address (or host name in static mode); may be empty */
  uint16_t gossip_port;
  uint16_t http_port;
  int32_t is_self;         /* 1 for the member this plugin instance runs as */
  uint8_t instance_id[16]; /* random per process start; all zero when not yet known */
  uint64_t incarnation;
  int64_t last_change_unix_ms;     /* when this node last saw the member change state */
  const esk8s_node_status* status; /* NULL when the member's host status is not known */
} esk8s_member;

/* The host's table. Callbacks are optional (NULL): without `log`, the plugin writes its log lines
 * to stderr at info level and above; without `node_status`, the local member carries no status
 * and counts as host-ready. */
typedef struct esk8s_host_api {
  uint32_t struct_size; /* sizeof(esk8s_host_api) as the host was compiled */
  uint16_t abi_major;   /* ESK8S_ABI_MAJOR as the host was compiled */
  uint16_t abi_minor;   /* ESK8S_ABI_MINOR as the host was compiled */
  /* Opaque, owned by the host, passed back as the first argument of every callback. Must stay
   * valid until destroy returns. */
  void* ctx;

  /* Returns non-zero when messages at `level` should be produced; lets the plugin skip building
   * messages the host would drop. NULL: every level for which `log` is called is wanted. */
  int (*log_enabled)(void* ctx, esk8s_log_level level);

  /* One structured log record. `component` names the plugin part ("runtime", "http", ...),
   * `message` is a human sentence, `fields` are `field_count` key/value pairs. All strings are
   * owned by the plugin and valid only during the call. May be called from any plugin thread,
   * concurrently. */
  void (*log)(void* ctx, esk8s_log_level level, esk8s_str component, esk8s_str message,
              const esk8s_kv* fields, size_t field_count);

  /* A new membership snapshot: every member this node knows, itself included. Called on the
   * plugin's event-loop thread after each change, never concurrently with itself. `members` is
   * owned by the plugin and valid only during the call. */
  void (*membership_changed)(void* ctx, const esk8s_member* members, size_t member_count);

  /* Fills `out` with the database's current status (see esk8s_node_status for the growth rule).
   * Returns 0 on success; non-zero means "not available now" and `out` is ignored. Called on the
   * plugin's event-loop thread about once per status interval; must return quickly. */
  int (*node_status)(void* ctx, esk8s_node_status* out);
} esk8s_host_api;

/* An opaque plugin instance, created by esk8s_init and released by api->destroy. */
typedef struct esk8s_plugin esk8s_plugin;

/* The plugin's table. Static storage inside libesk8s.so: valid until dlclose. */
typedef struct esk8s_plugin_api {
  uint32_t struct_size; /* sizeof(esk8s_plugin_api) as the plugin was compiled */
  uint16_t abi_major;
  uint16_t abi_minor;

  /* Version of the plugin, NUL-terminated, static storage (e.g. "0.1.0"). */
  const char* (*version)(void);

  /* Starts discovery, the event loop and the HTTP endpoints. Returns once the HTTP listener is
   * bound, or fails (e.g. ESK8S_ERR_IO when the port is in use) leaving nothing running.
   * REQUIRES: the instance is stopped. A stopped instance may be started again. */
  esk8s_status (*start)(esk8s_plugin* plugin, char** out_error);

  /* Stops everything started by start: cancels work, joins every plugin thread, closes every
   * socket. Idempotent; stopping a stopped instance returns ESK8S_OK. Must not be called from a
   * host callback. */
  esk8s_status (*stop)(esk8s_plugin* plugin, char** out_error);

  /* Stops the instance if it runs and releases it. `plugin` is invalid afterwards. NULL is a
   * no-op. Must not be called from a host callback. */
  void (*destroy)(esk8s_plugin* plugin);

  /* Releases a message returned through an `out_error` parameter. NULL is a no-op. */
  void (*free_error)(char* error);
} esk8s_plugin_api;

/* The one exported entry point.
 *
 * host:        the host's table; copied (the first min(host->struct_size, known size) bytes), so
 *              it need not outlive the call. `host->ctx` must outlive the instance.
 * config:      `config_count` key/value pairs using the ESK8S_* keys of the README (e.g.
 *              {"ESK8S_SERVICE", "esdb"}); copied. When `config_count` is 0 the plugin reads the
 *              ESK8S_* environment variables instead. Unknown keys passed here are errors;
 *              unknown ESK8S_* environment variables are only warnings.
 * out_api:     receives the plugin's table — set first, even when init fails, so the host can
 *              free the error message. Must not be NULL.
 * out_plugin:  receives the new instance on success, NULL on failure. Must not be NULL.
 * out_error:   may be NULL; on failure receives a message to release with (*out_api)->free_error.
 *
 * Fails with ESK8S_ERR_ABI_MISMATCH when host->abi_major differs from the plugin's major or the
 * table is too small, and with ESK8S_ERR_CONFIG when the configuration is invalid (the message
 * names every bad key, its value and what is accepted). */
ESK8S_EXPORT esk8s_status esk8s_init(const esk8s_host_api* host, const esk8s_kv* config,
                                     size_t config_count, const esk8s_plugin_api** out_api,
                                     esk8s_plugin** out_plugin, char** out_error);

/* The type of esk8s_init, for dlsym. */
typedef esk8s_status (*esk8s_init_fn)(const esk8s_host_api* host, const esk8s_kv* config,
                                      size_t config_count, const esk8s_plugin_api** out_api,
                                      esk8s_plugin** out_plugin, char** out_error);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* ESK8S_PLUGIN_H_ */
