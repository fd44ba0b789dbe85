/* C ABI tests: a C99 host that compiles against plugin.h only and dlopens the real libesk8s.so,
 * including broken partners (older host, other major version, bad configuration).
 *
 * usage: abi_test PATH/TO/libesk8s.so CASE      (CASE: see kCases below; "all" runs every case)
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "esk8s/plugin.h"

static const char* g_plugin_path;
static int g_failures;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      g_failures++;                                                            \
      return;                                                                  \
    }                                                                          \
  } while (0)

#define KV(k, v)                             \
  {                                          \
    {k, sizeof(k) - 1}, { v, sizeof(v) - 1 } \
  }

static const esk8s_kv kGoodConfig[] = {
    KV("ESK8S_SERVICE", "esdb"),
    KV("ESK8S_NAMESPACE", "abi"),
    KV("ESK8S_POD_NAME", "esdb-0"),
    KV("ESK8S_CLUSTER_DOMAIN", "cluster.local"),
    KV("ESK8S_DISCOVERY", "static"),
    KV("ESK8S_STATIC_PEERS",
       "esdb-0.esdb.abi.svc.cluster.local=127.0.0.1:2114,esdb-1.esdb.abi.svc.cluster.local=127.0.0."
       "2:2114"),
    KV("ESK8S_HTTP_PORT", "0"),
    KV("ESK8S_PRESET", "local"),
};
#define BASE_COUNT (sizeof kGoodConfig / sizeof kGoodConfig[0])

/* Filled by main: kGoodConfig plus the CA directory (argv[3], local-ca mode) and a loopback
 * address of this case's own (cases run in parallel and each binds the gossip port). */
static char g_ca_dir[512];
static char g_bind[32];
static esk8s_kv g_good[BASE_COUNT + 2];
#define GOOD_COUNT (BASE_COUNT + 2)

static void add_runtime_config(esk8s_kv* out) {
  out[0].key.ptr = "ESK8S_TLS_CA_DIR";
  out[0].key.len = strlen("ESK8S_TLS_CA_DIR");
  out[0].value.ptr = g_ca_dir;
  out[0].value.len = strlen(g_ca_dir);
  out[1].key.ptr = "ESK8S_BIND_ADDRESS";
  out[1].key.len = strlen("ESK8S_BIND_ADDRESS");
  out[1].value.ptr = g_bind;
  out[1].value.len = strlen(g_bind);
}

/* What the callbacks saw. */
struct seen {
  int logs;
  int warnings;
  int memberships;
  int self_found;
  int status_calls;
  char last_warning[512];
};

static int cb_log_enabled(void* ctx, esk8s_log_level level) {
  (void)ctx;
  return level >= ESK8S_LOG_INFO;
}

static void cb_log(void* ctx, esk8s_log_level level, esk8s_str component, esk8s_str message,
                   const esk8s_kv* fields, size_t n) {
  struct seen* s = (struct seen*)ctx;
  (void)component;
  (void)fields;
  (void)n;
  s->logs++;
  if (level == ESK8S_LOG_WARN) {
    size_t len =
        message.len < sizeof s->last_warning - 1 ? message.len : sizeof s->last_warning - 1;
    memcpy(s->last_warning, message.ptr, len);
    s->last_warning[len] = '\0';
    s->warnings++;
  }
}

static void cb_membership(void* ctx, const esk8s_member* members, size_t count) {
  struct seen* s = (struct seen*)ctx;
  size_t i;
  s->memberships++;
  for (i = 0; i < count; ++i) {
    const char* want = "esdb-0.esdb.abi.svc.cluster.local";
    if (members[i].is_self && members[i].identity.len == strlen(want) &&
        memcmp(members[i].identity.ptr, want, members[i].identity.len) == 0 &&
        members[i].state == ESK8S_MEMBER_ALIVE && members[i].status != NULL &&
        strcmp(members[i].status->state, "Leader") == 0) {
      s->self_found = 1;
    }
  }
}

static int cb_node_status(void* ctx, esk8s_node_status* out) {
  struct seen* s = (struct seen*)ctx;
  s->status_calls++;
  out->host_ready = 1;
  snprintf(out->state, sizeof out->state, "Leader");
  out->writer_checkpoint = 42;
  return 0;
}

static esk8s_host_api full_host(struct seen* s) {
  esk8s_host_api h;
  memset(&h, 0, sizeof h);
  h.struct_size = sizeof h;
  h.abi_major = ESK8S_ABI_MAJOR;
  h.abi_minor = ESK8S_ABI_MINOR;
  h.ctx = s;
  h.log_enabled = cb_log_enabled;
  h.log = cb_log;
  h.membership_changed = cb_membership;
  h.node_status = cb_node_status;
  return h;
}

static void* load(esk8s_init_fn* init) {
  void* lib = dlopen(g_plugin_path, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    fprintf(stderr, "dlopen %s: %s\n", g_plugin_path, dlerror());
    return NULL;
  }
  *(void**)init = dlsym(lib, "esk8s_init");
  return lib;
}

static void sleep_ms(long ms) {
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (ms % 1000) * 1000000L;
  nanosleep(&ts, NULL);
}

/* Declares what every case uses — the callbacks' record `s`, a full host table `host` reporting
 * into it, the loaded library `lib` and its `init`, the `api`, an instance `p` and an error `err`
 * — and loads the plugin. */
#define OPEN_FIXTURE()                \
  struct seen s;                      \
  esk8s_init_fn init = NULL;          \
  const esk8s_plugin_api* api = NULL; \
  esk8s_plugin* p = NULL;             \
  char* err = NULL;                   \
  esk8s_host_api host;                \
  void* lib;                          \
  memset(&s, 0, sizeof s);            \
  host = full_host(&s);               \
  lib = load(&init);                  \
  CHECK(lib&& init);                  \
  (void)p

/* load, init, start, stop, start again, stop, destroy, unload; callbacks are called. */
static void test_lifecycle(void) {
  int i;
  OPEN_FIXTURE();
  CHECK(init(&host, g_good, GOOD_COUNT, &api, &p, &err) == ESK8S_OK);
  CHECK(api && p && !err);
  CHECK(api->struct_size >= sizeof(esk8s_plugin_api));
  CHECK(api->abi_major == ESK8S_ABI_MAJOR);
  CHECK(strlen(api->version()) > 0);
  CHECK(api->start(p, &err) == ESK8S_OK);
  for (i = 0; i < 100 && !s.self_found; ++i) sleep_ms(10);
  CHECK(s.memberships >= 1);
  CHECK(s.self_found);
  CHECK(s.status_calls >= 1);
  CHECK(api->start(p, &err) == ESK8S_ERR_STATE); /* already running */
  CHECK(err && strstr(err, "already running"));
  api->free_error(err);
  err = NULL;
  CHECK(api->stop(p, &err) == ESK8S_OK);
  CHECK(api->stop(p, &err) == ESK8S_OK); /* idempotent */
  s.memberships = 0;
  CHECK(api->start(p, &err) == ESK8S_OK); /* a stopped instance starts again */
  for (i = 0; i < 100 && s.memberships == 0; ++i) sleep_ms(10);
  CHECK(s.memberships >= 1);
  CHECK(api->stop(p, &err) == ESK8S_OK);
  api->destroy(p);
  CHECK(s.logs > 0);
  CHECK(dlclose(lib) == 0);
}

/* destroy of a running instance stops it first (joins its threads) so dlclose is safe. */
static void test_destroy_running(void) {
  OPEN_FIXTURE();
  CHECK(init(&host, g_good, GOOD_COUNT, &api, &p, &err) == ESK8S_OK);
  CHECK(api->start(p, &err) == ESK8S_OK);
  api->destroy(p);
  CHECK(dlclose(lib) == 0);
}

/* The older host's table: ABI 1.0 before membership_changed and node_status existed. */
struct old_host_api {
  uint32_t struct_size;
  uint16_t abi_major;
  uint16_t abi_minor;
  void* ctx;
  int (*log_enabled)(void* ctx, esk8s_log_level level);
  void (*log)(void* ctx, esk8s_log_level level, esk8s_str component, esk8s_str message,
              const esk8s_kv* fields, size_t field_count);
};

/* An older host (smaller struct_size) works; the plugin never reads past its table. */
static void test_older_host(void) {
  struct seen s;
  esk8s_init_fn init = NULL;
  const esk8s_plugin_api* api = NULL;
  esk8s_plugin* p = NULL;
  char* err = NULL;
  void* lib;
  /* The old table sits in a buffer whose bytes past it are 0xFF: reading a callback from there
   * would call a garbage pointer. */
  unsigned char buf[sizeof(esk8s_host_api) + 64];
  struct old_host_api old;
  memset(&s, 0, sizeof s);
  memset(buf, 0xFF, sizeof buf);
  memset(&old, 0, sizeof old);
  old.struct_size = sizeof old;
  old.abi_major = ESK8S_ABI_MAJOR;
  old.abi_minor = 0;
  old.ctx = &s;
  old.log_enabled = NULL; /* optional */
  old.log = cb_log;
  memcpy(buf, &old, sizeof old);
  lib = load(&init);
  CHECK(lib && init);
  CHECK(init((const esk8s_host_api*)(void*)buf, g_good, GOOD_COUNT, &api, &p, &err) == ESK8S_OK);
  CHECK(api->start(p, &err) == ESK8S_OK);
  sleep_ms(300); /* at least one status poll in the local preset */
  CHECK(api->stop(p, &err) == ESK8S_OK);
  api->destroy(p);
  CHECK(s.logs > 0);
  CHECK(s.memberships == 0);
  CHECK(dlclose(lib) == 0);
}

/* A host with every optional callback NULL works; logs go to stderr. */
static void test_null_callbacks(void) {
  esk8s_init_fn init = NULL;
  const esk8s_plugin_api* api = NULL;
  esk8s_plugin* p = NULL;
  char* err = NULL;
  esk8s_host_api host;
  void* lib;
  memset(&host, 0, sizeof host);
  host.struct_size = sizeof host;
  host.abi_major = ESK8S_ABI_MAJOR;
  host.abi_minor = ESK8S_ABI_MINOR;
  lib = load(&init);
  CHECK(lib && init);
  CHECK(init(&host, g_good, GOOD_COUNT, &api, &p, &err) == ESK8S_OK);
  CHECK(api->start(p, &err) == ESK8S_OK);
  sleep_ms(300);
  CHECK(api->stop(p, &err) == ESK8S_OK);
  api->destroy(p);
  CHECK(dlclose(lib) == 0);
}

/* A host of another major version is refused with a message naming both versions. */
static void test_major_mismatch(void) {
  OPEN_FIXTURE();
  p = (esk8s_plugin*)&s; /* must be reset to NULL */
  host.abi_major = ESK8S_ABI_MAJOR + 1;
  CHECK(init(&host, g_good, GOOD_COUNT, &api, &p, &err) == ESK8S_ERR_ABI_MISMATCH);
  CHECK(api != NULL); /* set even on failure, to free the message */
  CHECK(p == NULL);
  CHECK(err != NULL);
  fprintf(stderr, "refused as expected: %s\n", err);
  CHECK(strstr(err, "ABI 2.") != NULL);
  CHECK(strstr(err, "ABI 1.") != NULL);
  api->free_error(err);
  /* A table too small to hold the version header and ctx is refused too, for its size: the
   * plugin reads struct_size before any other field (here the major version past the 4 bytes
   * the table claims is garbage and must not be the reason). */
  host.abi_major = ESK8S_ABI_MAJOR + 7;
  host.struct_size = 4;
  err = NULL;
  CHECK(init(&host, g_good, GOOD_COUNT, &api, &p, &err) == ESK8S_ERR_ABI_MISMATCH);
  CHECK(err && strstr(err, "struct_size 4"));
  CHECK(err && !strstr(err, "ABI 8."));
  api->free_error(err);
  host.abi_major = ESK8S_ABI_MAJOR;
  /* NULL out-pointers are rejected without touching anything. */
  CHECK(init(&host, g_good, GOOD_COUNT, NULL, &p, NULL) == ESK8S_ERR_INVALID_ARGUMENT);
  CHECK(dlclose(lib) == 0);
}

/* A bad configuration fails init cleanly with a message naming key and value. */
static void test_bad_config(void) {
  static const esk8s_kv bad[] = {
      KV("ESK8S_SERVICE", "esdb"),     KV("ESK8S_NAMESPACE", "abi"), KV("ESK8S_POD_NAME", "esdb-0"),
      KV("ESK8S_DISCOVERY", "static"), KV("ESK8S_STATIC_PEERS", ""), KV("ESK8S_HTTP_PORT", "80a"),
      KV("ESK8S_SOMETHING_ELSE", "1"),
  };
  OPEN_FIXTURE();
  CHECK(init(&host, bad, sizeof bad / sizeof bad[0], &api, &p, &err) == ESK8S_ERR_CONFIG);
  CHECK(p == NULL);
  CHECK(err != NULL);
  fprintf(stderr, "refused as expected: %s\n", err);
  CHECK(strstr(err, "ESK8S_HTTP_PORT=\"80a\"") != NULL);
  CHECK(strstr(err, "0-65535") != NULL);
  CHECK(strstr(err, "ESK8S_SOMETHING_ELSE") != NULL);
  CHECK(strstr(err, "ESK8S_STATIC_PEERS") != NULL);
  api->free_error(err);
  api->free_error(NULL);
  CHECK(dlclose(lib) == 0);
}

/* With no explicit entries the plugin reads ESK8S_* from the environment; unknown ESK8S_*
 * variables (Kubernetes service links) are warnings, not errors. */
static void test_environment_config(void) {
  size_t i;
  OPEN_FIXTURE();
  for (i = 0; i < BASE_COUNT; ++i) {
    char k[64], v[256];
    snprintf(k, sizeof k, "%.*s", (int)g_good[i].key.len, g_good[i].key.ptr);
    snprintf(v, sizeof v, "%.*s", (int)g_good[i].value.len, g_good[i].value.ptr);
    setenv(k, v, 1);
  }
  setenv("ESK8S_SERVICE_HOST", "10.0.0.1", 1); /* what a Service named "esk8s" injects */
  CHECK(init(&host, NULL, 0, &api, &p, &err) == ESK8S_OK);
  CHECK(s.warnings == 1);
  CHECK(strstr(s.last_warning, "ESK8S_SERVICE_HOST") != NULL);
  api->destroy(p);
  /* A bad environment value is an error like an explicit one. */
  setenv("ESK8S_READY_MODE", "sometimes", 1);
  CHECK(init(&host, NULL, 0, &api, &p, &err) == ESK8S_ERR_CONFIG);
  CHECK(err && strstr(err, "ESK8S_READY_MODE=\"sometimes\""));
  api->free_error(err);
  CHECK(dlclose(lib) == 0);
}

/* A port that is taken fails start with ESK8S_ERR_IO naming the port; the instance stays usable. */
static void test_port_in_use(void) {
  esk8s_plugin *a = NULL, *b = NULL;
  /* Same fixed port twice on one address. */
  esk8s_kv fixed[] = {
      KV("ESK8S_SERVICE", "esdb"),
      KV("ESK8S_NAMESPACE", "abi"),
      KV("ESK8S_POD_NAME", "esdb-0"),
      KV("ESK8S_DISCOVERY", "static"),
      KV("ESK8S_STATIC_PEERS", "esdb-0.esdb.abi.svc.cluster.local=127.0.0.1"),
      KV("ESK8S_HTTP_PORT", "38115"),
      KV("ESK8S_GOSSIP_PORT", "38114"),
      {{0, 0}, {0, 0}},
      {{0, 0}, {0, 0}},
  };
  add_runtime_config(&fixed[sizeof fixed / sizeof fixed[0] - 2]);
  OPEN_FIXTURE();
  CHECK(init(&host, fixed, sizeof fixed / sizeof fixed[0], &api, &a, &err) == ESK8S_OK);
  CHECK(init(&host, fixed, sizeof fixed / sizeof fixed[0], &api, &b, &err) == ESK8S_OK);
  CHECK(api->start(a, &err) == ESK8S_OK);
  CHECK(api->start(b, &err) == ESK8S_ERR_IO);
  CHECK(err && strstr(err, "ESK8S_HTTP_PORT=38115"));
  fprintf(stderr, "refused as expected: %s\n", err);
  api->free_error(err);
  err = NULL;
  CHECK(api->stop(a, &err) == ESK8S_OK);
  CHECK(api->start(b, &err) == ESK8S_OK); /* the failed instance can start once the port is free */
  api->destroy(b);
  api->destroy(a);
  CHECK(dlclose(lib) == 0);
}

/* 20 full cycles: load, init, start, stop, destroy, unload. Under ASan this also proves no leak
 * and no use after dlclose. */
static void test_cycles(void) {
  int i;
  for (i = 0; i < 20; ++i) {
    OPEN_FIXTURE();
    CHECK(init(&host, g_good, GOOD_COUNT, &api, &p, &err) == ESK8S_OK);
    CHECK(api->start(p, &err) == ESK8S_OK);
    CHECK(api->stop(p, &err) == ESK8S_OK);
    api->destroy(p);
    CHECK(dlclose(lib) == 0);
  }
}

/* The body of GET `path` from g_bind:port (HTTP/1.0, 2 s timeouts) into `out`; "" on failure. */
static void http_get(unsigned short port, const char* path, char* out, size_t cap) {
  struct sockaddr_in a;
  struct timeval tv;
  char req[256];
  size_t got = 0;
  ssize_t n;
  char* body;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  out[0] = '\0';
  if (fd < 0) return;
  tv.tv_sec = 2;
  tv.tv_usec = 0;
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, g_bind, &a.sin_addr);
  snprintf(req, sizeof req, "GET %s HTTP/1.0\r\n\r\n", path);
  if (connect(fd, (struct sockaddr*)&a, sizeof a) != 0 ||
      send(fd, req, strlen(req), 0) != (ssize_t)strlen(req)) {
    close(fd);
    return;
  }
  while (got + 1 < cap && (n = recv(fd, out + got, cap - 1 - got, 0)) > 0) got += (size_t)n;
  out[got] = '\0';
  close(fd);
  body = strstr(out, "\r\n\r\n");
  if (body) memmove(out, body + 4, strlen(body + 4) + 1);
}

/* Polls /gossip on `port` until it contains every string of `want` (NULL-terminated), up to 5 s;
 * returns 1 when it did. Prints the last answer when it did not. */
static int gossip_shows(unsigned short port, const char* const* want) {
  static char body[16384];
  int i;
  for (i = 0; i < 100; ++i) {
    const char* const* w;
    int all = 1;
    http_get(port, "/gossip", body, sizeof body);
    for (w = want; *w; ++w) all = all && strstr(body, *w) != NULL;
    if (all) return 1;
    sleep_ms(50);
  }
  fprintf(stderr, "/gossip never showed what was expected; last answer: %s\n", body);
  return 0;
}

/* A configuration with a fixed HTTP port (on the case's own loopback address) and no HTTPS. */
#define GOSSIP_HTTP_PORT 38215
static const esk8s_kv kFixedPortConfig[] = {
    KV("ESK8S_SERVICE", "esdb"),
    KV("ESK8S_NAMESPACE", "abi"),
    KV("ESK8S_POD_NAME", "esdb-0"),
    KV("ESK8S_CLUSTER_DOMAIN", "cluster.local"),
    KV("ESK8S_DISCOVERY", "static"),
    KV("ESK8S_STATIC_PEERS", "esdb-0.esdb.abi.svc.cluster.local=127.0.0.1:2114"),
    KV("ESK8S_HTTP_PORT", "38215"),
    KV("ESK8S_HTTPS_PORT", "off"),
    KV("ESK8S_PRESET", "local"),
};
#define FIXED_COUNT (sizeof kFixedPortConfig / sizeof kFixedPortConfig[0])

/* What the status callbacks below saw. */
struct status_seen {
  struct seen base;
  uint32_t struct_size;  /* what the plugin passed in */
  int tail_was_zero;     /* the bytes past the host's struct were zero at every call */
  int member_status_ok;  /* membership_changed showed the fields the host set */
};

/* An ABI 1.1 host sets every client-facing endpoint field. */
static int cb_status_1_1(void* ctx, esk8s_node_status* out) {
  struct status_seen* s = (struct status_seen*)ctx;
  s->base.status_calls++;
  s->struct_size = out->struct_size;
  if (out->struct_size < offsetof(esk8s_node_status, advertise_host_to_client_as) +
                             sizeof out->advertise_host_to_client_as) {
    return 1;
  }
  out->host_ready = 1;
  snprintf(out->state, sizeof out->state, "Leader");
  out->internal_insecure_tcp_port = 1112;
  out->external_insecure_tcp_port = 1113;
  out->http_port = 2113;
  snprintf(out->http_host, sizeof out->http_host, "10.9.8.7");
  snprintf(out->external_tcp_host, sizeof out->external_tcp_host, "esdb-0.example.com");
  return 0;
}

static void cb_membership_1_1(void* ctx, const esk8s_member* members, size_t count) {
  struct status_seen* s = (struct status_seen*)ctx;
  size_t i;
  s->base.memberships++;
  for (i = 0; i < count; ++i) {
    const esk8s_node_status* st = members[i].status;
    if (members[i].is_self && st && st->struct_size >= sizeof(esk8s_node_status) &&
        st->external_insecure_tcp_port == 1113 && st->internal_insecure_tcp_port == 1112 &&
        strcmp(st->http_host, "10.9.8.7") == 0 &&
        strcmp(st->external_tcp_host, "esdb-0.example.com") == 0) {
      s->member_status_ok = 1;
    }
  }
}

/* Runs one instance on the fixed-port configuration whose host reports through `status_cb` (and
 * `membership_cb`, may be NULL) into `ss`, until /gossip shows every string of `want`; then
 * `after` (may be NULL) checks more while it runs. */
static void run_status_case(struct status_seen* ss,
                            int (*status_cb)(void*, esk8s_node_status*),
                            void (*membership_cb)(void*, const esk8s_member*, size_t),
                            const char* const* want, void (*after)(struct status_seen*)) {
  esk8s_init_fn init = NULL;
  const esk8s_plugin_api* api = NULL;
  esk8s_plugin* p = NULL;
  char* err = NULL;
  esk8s_host_api host;
  esk8s_kv cfg[FIXED_COUNT + 2];
  void* lib;
  host = full_host(&ss->base);
  host.ctx = ss;
  host.node_status = status_cb;
  host.membership_changed = membership_cb;
  memcpy(cfg, kFixedPortConfig, sizeof kFixedPortConfig);
  add_runtime_config(&cfg[FIXED_COUNT]);
  lib = load(&init);
  CHECK(lib && init);
  CHECK(init(&host, cfg, FIXED_COUNT + 2, &api, &p, &err) == ESK8S_OK);
  CHECK(api->start(p, &err) == ESK8S_OK);
  CHECK(gossip_shows(GOSSIP_HTTP_PORT, want));
  if (after) after(ss);
  CHECK(api->stop(p, &err) == ESK8S_OK);
  api->destroy(p);
  CHECK(dlclose(lib) == 0);
}

static void check_status_1_1_seen(struct status_seen* ss) {
  int i;
  CHECK(ss->struct_size == sizeof(esk8s_node_status));
  for (i = 0; i < 200 && !ss->member_status_ok; ++i) sleep_ms(10);
  CHECK(ss->member_status_ok);
}

/* The ABI 1.1 endpoint fields reach the member list and /gossip renders them as EventStoreDB
 * renders an insecure node's: plain ports in externalTcpPort/internalTcpPort, the hosts set. */
static void test_status_endpoints(void) {
  struct status_seen ss;
  static const char* const kWant[] = {
      "\"internalTcpPort\":1112,\"internalSecureTcpPort\":0",
      "\"externalTcpIp\":\"esdb-0.example.com\",\"externalTcpPort\":1113,"
      "\"externalSecureTcpPort\":0",
      "\"internalHttpEndPointIp\":\"10.9.8.7\",\"internalHttpEndPointPort\":2113",
      "\"internalTcpIp\":\"esdb-0.esdb.abi.svc.cluster.local\"",
      NULL};
  memset(&ss, 0, sizeof ss);
  run_status_case(&ss, cb_status_1_1, cb_membership_1_1, kWant, check_status_1_1_seen);
}

/* esk8s_node_status as ABI 1.0 declared it: what a host built against 1.0 knows and writes. */
struct node_status_1_0 {
  uint32_t struct_size;
  int32_t host_ready;
  char state[32];
  int64_t writer_checkpoint;
  int64_t chaser_checkpoint;
  int64_t last_commit_position;
  int64_t epoch_position;
  int32_t epoch_number;
  int32_t node_priority;
  uint8_t epoch_id[16];
  int32_t is_read_only_replica;
  uint16_t internal_tcp_port;
  uint16_t external_tcp_port;
  uint16_t http_port;
  uint16_t reserved0;
  char version[32];
};

/* A 1.0 host: checks the plugin's struct is big enough for its own, fills its own struct and
 * copies exactly that many bytes. It also records whether the plugin's bytes past the 1.0 struct
 * were zero (the plugin zero-fills, so the 1.1 fields read "not set"). */
static int cb_status_1_0(void* ctx, esk8s_node_status* out) {
  struct status_seen* s = (struct status_seen*)ctx;
  struct node_status_1_0 old;
  const unsigned char* tail = (const unsigned char*)out + sizeof old;
  size_t i;
  s->base.status_calls++;
  s->struct_size = out->struct_size;
  if (out->struct_size < sizeof old) return 1;
  for (i = 0; i < out->struct_size - sizeof old; ++i) {
    if (tail[i] != 0) s->tail_was_zero = 0;
  }
  memcpy(&old, out, sizeof old);
  /* The 1.0 struct's trailing padding: a host's struct copy carries whatever it holds. */
  memset((unsigned char*)&old + offsetof(struct node_status_1_0, version) + sizeof old.version,
         0xFF, sizeof old - offsetof(struct node_status_1_0, version) - sizeof old.version);
  old.host_ready = 1;
  snprintf(old.state, sizeof old.state, "Follower");
  old.internal_tcp_port = 1112;
  old.external_tcp_port = 1113;
  old.http_port = 2113;
  memcpy(out, &old, sizeof old);
  return 0;
}

/* A host built against ABI 1.0 still works: its ports are the TLS ports (as 1.0 rendered them),
 * every host is the identity, the bytes past its struct are zero when it is called, and what its
 * struct copy leaves in the 1.0 padding (0xFF here) is never read as a 1.1 field. */
static void test_older_host_status(void) {
  struct status_seen ss;
  static const char* const kWant[] = {
      "\"state\":\"Follower\"",
      "\"internalTcpIp\":\"esdb-0.esdb.abi.svc.cluster.local\",\"internalTcpPort\":0,"
      "\"internalSecureTcpPort\":1112",
      "\"externalTcpIp\":\"esdb-0.esdb.abi.svc.cluster.local\",\"externalTcpPort\":0,"
      "\"externalSecureTcpPort\":1113",
      "\"httpEndPointIp\":\"esdb-0.esdb.abi.svc.cluster.local\",\"httpEndPointPort\":2113",
      NULL};
  memset(&ss, 0, sizeof ss);
  ss.tail_was_zero = 1;
  run_status_case(&ss, cb_status_1_0, NULL, kWant, NULL);
  CHECK(ss.base.status_calls >= 1);
  CHECK(ss.struct_size > sizeof(struct node_status_1_0));
  CHECK(ss.tail_was_zero);
}

struct test_case {
  const char* name;
  void (*fn)(void);
};

static const struct test_case kCases[] = {
    {"lifecycle", test_lifecycle},
    {"destroy_running", test_destroy_running},
    {"older_host", test_older_host},
    {"null_callbacks", test_null_callbacks},
    {"major_mismatch", test_major_mismatch},
    {"bad_config", test_bad_config},
    {"environment_config", test_environment_config},
    {"port_in_use", test_port_in_use},
    {"cycles", test_cycles},
    {"status_endpoints", test_status_endpoints},
    {"older_host_status", test_older_host_status},
};

int main(int argc, char** argv) {
  size_t i;
  int ran = 0;
  if (argc != 4) {
    fprintf(stderr, "usage: %s PATH/TO/libesk8s.so CASE|all CA_DIR\n", argv[0]);
    return 2;
  }
  g_plugin_path = argv[1];
  snprintf(g_ca_dir, sizeof g_ca_dir, "%s", argv[3]);
  memcpy(g_good, kGoodConfig, sizeof kGoodConfig);
  for (i = 0; i < sizeof kCases / sizeof kCases[0]; ++i) {
    if (strcmp(argv[2], "all") == 0 || strcmp(argv[2], kCases[i].name) == 0) {
      snprintf(g_bind, sizeof g_bind, "127.0.6.%u", (unsigned)(i + 1));
      add_runtime_config(&g_good[BASE_COUNT]);
      int before = g_failures;
      kCases[i].fn();
      printf("%s: %s\n", kCases[i].name, g_failures == before ? "ok" : "FAILED");
      ran++;
    }
  }
  if (!ran) {
    fprintf(stderr, "unknown case %s\n", argv[2]);
    return 2;
  }
  return g_failures ? 1 : 0;
}
