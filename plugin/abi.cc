// The C ABI of plugin/include/esk8s/plugin.h over the C++ Runtime. Nothing here throws: every
// entry point catches everything and turns it into a status code and a message.
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/logger.h"
#include "esk8s/plugin.h"
#include "plugin/config.h"
#include "plugin/host.h"
#include "plugin/node_status.h"
#include "plugin/runtime.h"
#include "plugin/timings.h"

using esk8s::LogField;
using esk8s::LogLevel;
using esk8s::Status;

namespace {

// esk8s_node_status grows only past the size ABI 1.0 hosts were compiled with (144 bytes: the 1.0
// fields and their trailing padding), so a 1.0 host's whole-struct copy touches no 1.1 field.
static_assert(offsetof(esk8s_node_status, reserved1) + sizeof(uint32_t) == 144);
static_assert(offsetof(esk8s_node_status, internal_insecure_tcp_port) == 144);

// The smallest host table we accept: the version header plus ctx. Callbacks past the host's
// struct_size are treated as NULL.
constexpr size_t kMinHostTableSize = offsetof(esk8s_host_api, log_enabled);

esk8s_str view(const std::string& s) { return esk8s_str{s.data(), s.size()}; }

char* copy_message(const std::string& msg) {
  char* out = static_cast<char*>(std::malloc(msg.size() + 1));
  if (out) std::memcpy(out, msg.c_str(), msg.size() + 1);
  return out;
}

esk8s_status fail(char** out_error, esk8s_status code, const std::string& msg) {
  if (out_error) *out_error = copy_message(msg);
  return code;
}

esk8s_status to_code(const Status& s) {
  switch (s.code()) {
    case Status::Code::kOk:
      return ESK8S_OK;
    case Status::Code::kInvalidArgument:
      return ESK8S_ERR_INVALID_ARGUMENT;
    case Status::Code::kConfig:
      return ESK8S_ERR_CONFIG;
    case Status::Code::kState:
      return ESK8S_ERR_STATE;
    case Status::Code::kIo:
      return ESK8S_ERR_IO;
    case Status::Code::kNotFound:
    case Status::Code::kInternal:
      return ESK8S_ERR_INTERNAL;
  }
  return ESK8S_ERR_INTERNAL;
}

// Log records go to the host's log callback, or to stderr when the host has none.
class HostLogSink : public esk8s::LogSink {
 public:
  explicit HostLogSink(const esk8s_host_api& host) : host_(host) {}

  bool enabled(LogLevel level) const override {
    if (!host_.log) return fallback_.enabled(level);
    if (!host_.log_enabled) return true;
    return host_.log_enabled(host_.ctx, static_cast<esk8s_log_level>(level)) != 0;
  }

  void write(LogLevel level, std::string_view component, std::string_view message,
             std::span<const LogField> fields) override {
    if (!host_.log) {
      fallback_.write(level, component, message, fields);
      return;
    }
    std::vector<esk8s_kv> kvs;
    kvs.reserve(fields.size());
    for (const auto& [k, v] : fields) kvs.push_back({view(k), view(v)});
    host_.log(host_.ctx, static_cast<esk8s_log_level>(level), {component.data(), component.size()},
              {message.data(), message.size()}, kvs.data(), kvs.size());
  }

 private:
  const esk8s_host_api& host_;  // owned by the esk8s_plugin that owns this sink
  esk8s::StderrSink fallback_{LogLevel::kInfo};
};

class HostBridge : public esk8s::plugin::Host {
 public:
  explicit HostBridge(const esk8s_host_api& host) : host_(host) {}

  void membership_changed(const std::vector<esk8s::plugin::MemberView>& members) override {
    if (!host_.membership_changed) return;
    std::vector<esk8s_member> out;
    out.reserve(members.size());
    // The statuses the members point at, alive for the callback (reserved: never reallocated).
    std::vector<esk8s_node_status> statuses;
    statuses.reserve(members.size());
    for (const auto& m : members) {
      esk8s_member c{};
      c.struct_size = sizeof c;
      c.state = static_cast<int32_t>(m.state);
      c.identity = view(m.identity);
      c.address = view(m.address);
      c.gossip_port = m.gossip_port;
      c.http_port = m.http_port;
      c.is_self = m.is_self ? 1 : 0;
      std::memcpy(c.instance_id, m.instance_id.data(), sizeof c.instance_id);
      c.incarnation = m.incarnation;
      c.last_change_unix_ms = m.last_change_unix_ms;
      if (m.status) statuses.push_back(esk8s::plugin::to_node_status(*m.status));
      c.status = m.status ? &statuses.back() : nullptr;
      out.push_back(c);
    }
    host_.membership_changed(host_.ctx, out.data(), out.size());
  }

  std::optional<esk8s::gossip::HostStatus> node_status() override {
    if (!host_.node_status) return std::nullopt;
    esk8s_node_status s{};
    s.struct_size = sizeof s;
    if (host_.node_status(host_.ctx, &s) != 0) return std::nullopt;
    return esk8s::plugin::to_host_status(s);
  }

 private:
  const esk8s_host_api& host_;
};

}  // namespace

struct esk8s_plugin {
  esk8s_host_api host{};  // the host's table, zero-extended to our size
  std::shared_ptr<HostLogSink> sink;
  std::unique_ptr<esk8s::plugin::Runtime> runtime;
  std::mutex mu;  // serialises start/stop/destroy
};

namespace {

const char* api_version() { return ESK8S_VERSION; }

esk8s_status api_start(esk8s_plugin* p, char** out_error) try {
  if (!p) return fail(out_error, ESK8S_ERR_INVALID_ARGUMENT, "start: plugin is NULL");
  std::lock_guard lock(p->mu);
  Status s = p->runtime->start();
  if (!s) return fail(out_error, to_code(s), s.message());
  return ESK8S_OK;
} catch (const std::exception& e) {
  return fail(out_error, ESK8S_ERR_INTERNAL, std::string("start failed: ") + e.what());
} catch (...) {
  return fail(out_error, ESK8S_ERR_INTERNAL, "start failed with an unknown exception");
}

esk8s_status api_stop(esk8s_plugin* p, char** out_error) try {
  if (!p) return fail(out_error, ESK8S_ERR_INVALID_ARGUMENT, "stop: plugin is NULL");
  std::lock_guard lock(p->mu);
  p->runtime->stop();
  return ESK8S_OK;
} catch (const std::exception& e) {
  return fail(out_error, ESK8S_ERR_INTERNAL, std::string("stop failed: ") + e.what());
} catch (...) {
  return fail(out_error, ESK8S_ERR_INTERNAL, "stop failed with an unknown exception");
}

void api_destroy(esk8s_plugin* p) {
  if (!p) return;
  try {
    {
      std::lock_guard lock(p->mu);
      p->runtime->stop();
      p->runtime.reset();
    }
    delete p;
  } catch (...) {
    // Nothing may cross the ABI; a failing stop here has already logged.
  }
}

void api_free_error(char* error) { std::free(error); }

constexpr esk8s_plugin_api kApi = {
    sizeof(esk8s_plugin_api),
    ESK8S_ABI_MAJOR,
    ESK8S_ABI_MINOR,
    api_version,
    api_start,
    api_stop,
    api_destroy,
    api_free_error,
};

esk8s_status init(const esk8s_host_api* host, const esk8s_kv* config, size_t config_count,
                  esk8s_plugin** out_plugin, char** out_error) {
  if (!host) return fail(out_error, ESK8S_ERR_INVALID_ARGUMENT, "esk8s_init: host table is NULL");
  // struct_size first: no other field may be read from a table smaller than the ABI header.
  if (host->struct_size < kMinHostTableSize) {
    return fail(out_error, ESK8S_ERR_ABI_MISMATCH,
                "esk8s_init: host table struct_size " + std::to_string(host->struct_size) +
                    " is smaller than the ABI minimum " + std::to_string(kMinHostTableSize) +
                    "; set struct_size = sizeof(esk8s_host_api)");
  }
  if (host->abi_major != ESK8S_ABI_MAJOR) {
    return fail(out_error, ESK8S_ERR_ABI_MISMATCH,
                "esk8s_init: the host was built against esk8s ABI " +
                    std::to_string(host->abi_major) + "." + std::to_string(host->abi_minor) +
                    " but this libesk8s.so implements ABI " + std::to_string(ESK8S_ABI_MAJOR) +
                    "." + std::to_string(ESK8S_ABI_MINOR) + "; load a libesk8s.so of ABI major " +
                    std::to_string(host->abi_major) + " or rebuild the host against this plugin.h");
  }
  if (config_count > 0 && !config) {
    return fail(out_error, ESK8S_ERR_INVALID_ARGUMENT,
                "esk8s_init: config is NULL but config_count is " + std::to_string(config_count));
  }

  auto plugin = std::make_unique<esk8s_plugin>();
  std::memcpy(&plugin->host, host, std::min<size_t>(host->struct_size, sizeof(esk8s_host_api)));
  plugin->host.struct_size = sizeof(esk8s_host_api);
  plugin->sink = std::make_shared<HostLogSink>(plugin->host);
  esk8s::Logger log(plugin->sink, "plugin");

  esk8s::plugin::ConfigInput input;
  if (config_count == 0) {
    input = esk8s::plugin::environment_config();
  } else {
    for (size_t i = 0; i < config_count; ++i) {
      const esk8s_kv& kv = config[i];
      if ((!kv.key.ptr && kv.key.len) || (!kv.value.ptr && kv.value.len)) {
        return fail(out_error, ESK8S_ERR_INVALID_ARGUMENT,
                    "esk8s_init: config entry " + std::to_string(i) +
                        " has a NULL pointer with a non-zero length");
      }
      input.entries.emplace_back(std::string(kv.key.ptr ? kv.key.ptr : "", kv.key.len),
                                 std::string(kv.value.ptr ? kv.value.ptr : "", kv.value.len));
    }
  }
  auto parsed = esk8s::plugin::parse_config(input, esk8s::plugin::HostFacts::from_system());
  if (!parsed) return fail(out_error, ESK8S_ERR_CONFIG, parsed.status().message());
  for (const auto& w : parsed->warnings) log.warn(w);
  const auto& cfg = parsed->config;
  log.info("configuration accepted",
           {{"identity", cfg.identity()},
            {"cluster_domain", cfg.cluster_domain},
            {"cluster_domain_from", cfg.cluster_domain_source},
            {"preset", std::string(esk8s::plugin::to_string(cfg.preset))}});

  auto timings = esk8s::plugin::Timings::for_preset(cfg.preset);
  if (Status s = timings.validate(); !s) return fail(out_error, ESK8S_ERR_INTERNAL, s.message());
  plugin->runtime = std::make_unique<esk8s::plugin::Runtime>(
      std::move(parsed->config), timings, log.with_component("runtime"),
      std::make_shared<HostBridge>(plugin->host));
  *out_plugin = plugin.release();
  return ESK8S_OK;
}

}  // namespace

extern "C" ESK8S_EXPORT esk8s_status esk8s_init(const esk8s_host_api* host, const esk8s_kv* config,
                                                size_t config_count,
                                                const esk8s_plugin_api** out_api,
                                                esk8s_plugin** out_plugin, char** out_error) {
  if (out_error) *out_error = nullptr;
  if (!out_api || !out_plugin) return ESK8S_ERR_INVALID_ARGUMENT;
  *out_api = &kApi;
  *out_plugin = nullptr;
  try {
    return init(host, config, config_count, out_plugin, out_error);
  } catch (const std::exception& e) {
    return fail(out_error, ESK8S_ERR_INTERNAL, std::string("esk8s_init failed: ") + e.what());
  } catch (...) {
    return fail(out_error, ESK8S_ERR_INTERNAL, "esk8s_init failed with an unknown exception");
  }
}
