/* esk8s_host.c: the smallest database host for libesk8s.so, in C99, linked against the library
 * instead of loading it with dlopen (esk8s-node shows that way). Build it against an installed
 * esk8s (cmake --install or the .deb) with pkg-config alone:
 *
 *   cc -std=c99 -o esk8s-c-host esk8s_host.c $(pkg-config --cflags --libs esk8s)
 *
 * usage: esk8s-c-host [--seconds N]
 *
 * It configures the plugin from the ESK8S_* environment variables (the README's configuration
 * table), prints the plugin's version, its log records (stderr) and every membership snapshot
 * (stdout), reports itself as a ready Follower, and stops on SIGINT or SIGTERM, or after N
 * seconds. Exit status: 0 after a clean stop, 1 when init, start or stop fails, 2 on a usage
 * error.
 */
#define _POSIX_C_SOURCE 200809L
#include <esk8s/plugin.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char* const kLevels[] = {"trace", "debug", "info", "warn", "error"};
static const char* const kStates[] = {"discovered", "alive", "suspect", "dead", "left"};

static int on_log_enabled(void* ctx, esk8s_log_level level) {
  (void)ctx;
  return level >= ESK8S_LOG_INFO;
}

/* Records arrive escaped by the plugin (no control characters), so they print as they are. */
static void on_log(void* ctx, esk8s_log_level level, esk8s_str component, esk8s_str message,
                   const esk8s_kv* fields, size_t n) {
  char line[4096];
  size_t i;
  int len;
  (void)ctx;
  len = snprintf(line, sizeof line, "[esk8s] %s %.*s: %.*s",
                 (unsigned)level <= ESK8S_LOG_ERROR ? kLevels[level] : "?", (int)component.len,
                 component.ptr ? component.ptr : "", (int)message.len,
                 message.ptr ? message.ptr : "");
  for (i = 0; i < n && len > 0 && (size_t)len < sizeof line; ++i) {
    len += snprintf(line + len, sizeof line - (size_t)len, " %.*s=%.*s", (int)fields[i].key.len,
                    fields[i].key.ptr ? fields[i].key.ptr : "", (int)fields[i].value.len,
                    fields[i].value.ptr ? fields[i].value.ptr : "");
  }
  fprintf(stderr, "%s\n", line);
}

static void on_membership(void* ctx, const esk8s_member* members, size_t count) {
  size_t i;
  (void)ctx;
  flockfile(stdout);
  printf("membership: %zu member(s)\n", count);
  for (i = 0; i < count; ++i) {
    const esk8s_member* m = &members[i];
    printf("  %.*s %s%s\n", (int)m->identity.len, m->identity.ptr ? m->identity.ptr : "",
           (unsigned)m->state <= ESK8S_MEMBER_LEFT ? kStates[m->state] : "?",
           m->is_self ? " (self)" : "");
  }
  fflush(stdout);
  funlockfile(stdout);
}

/* Only fields within the plugin's struct_size may be written (an older plugin's is smaller). */
static int on_node_status(void* ctx, esk8s_node_status* out) {
  (void)ctx;
  if (out->struct_size < offsetof(esk8s_node_status, state) + sizeof out->state) return 1;
  out->host_ready = 1;
  snprintf(out->state, sizeof out->state, "Follower");
  return 0;
}

int main(int argc, char** argv) {
  long seconds = -1;
  sigset_t stop_signals;
  esk8s_host_api host;
  const esk8s_plugin_api* api = NULL;
  esk8s_plugin* plugin = NULL;
  char* error = NULL;
  int sig, rc = 0;

  if (argc == 3 && strcmp(argv[1], "--seconds") == 0) {
    char* end = NULL;
    seconds = strtol(argv[2], &end, 10);
    if (*end || seconds < 1 || seconds > 86400) seconds = 0;
  }
  if (argc != 1 && seconds < 1) {
    fprintf(stderr, "usage: esk8s-c-host [--seconds N]   (N: 1-86400)\n");
    return 2;
  }

  /* Plugin threads inherit this mask, so the stop signals come to sigtimedwait below. */
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

  memset(&host, 0, sizeof host);
  host.struct_size = sizeof host;
  host.abi_major = ESK8S_ABI_MAJOR;
  host.abi_minor = ESK8S_ABI_MINOR;
  host.log_enabled = on_log_enabled;
  host.log = on_log;
  host.membership_changed = on_membership;
  host.node_status = on_node_status;

  /* No configuration entries: the plugin reads the ESK8S_* environment variables. */
  if (esk8s_init(&host, NULL, 0, &api, &plugin, &error) != ESK8S_OK) {
    fprintf(stderr, "esk8s-c-host: init failed: %s\n", error ? error : "(no message)");
    if (api) api->free_error(error);
    return 1;
  }
  if (api->abi_major != ESK8S_ABI_MAJOR) {
    fprintf(stderr, "esk8s-c-host: the plugin's ABI %u.%u is not the header's %d.x\n",
            (unsigned)api->abi_major, (unsigned)api->abi_minor, ESK8S_ABI_MAJOR);
    api->destroy(plugin);
    return 1;
  }
  printf("esk8s-c-host: esk8s %s, plugin ABI %u.%u, compiled against ABI %d.%d\n", api->version(),
         (unsigned)api->abi_major, (unsigned)api->abi_minor, ESK8S_ABI_MAJOR, ESK8S_ABI_MINOR);
  fflush(stdout);

  if (api->start(plugin, &error) != ESK8S_OK) {
    fprintf(stderr, "esk8s-c-host: start failed: %s\n", error ? error : "(no message)");
    api->free_error(error);
    api->destroy(plugin);
    return 1;
  }
  printf("esk8s-c-host: running\n");
  fflush(stdout);

  if (seconds > 0) {
    struct timespec limit;
    limit.tv_sec = seconds;
    limit.tv_nsec = 0;
    sig = sigtimedwait(&stop_signals, NULL, &limit);
  } else {
    sigwait(&stop_signals, &sig);
  }
  if (api->stop(plugin, &error) != ESK8S_OK) {
    fprintf(stderr, "esk8s-c-host: stop failed: %s\n", error ? error : "(no message)");
    api->free_error(error);
    rc = 1;
  }
  api->destroy(plugin);
  printf("esk8s-c-host: stopped\n");
  return rc;
}
