// The Events' I/O (plugin/event_worker.h) against a local HTTPS API server: the Pod's uid read
// once, creates with POST, series updates as JSON merge patches, a 403 logged once naming
// rbac/role.yaml with writing paused, and emit() never waiting for the API (a full queue drops).
#include <doctest/doctest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "plugin/event_worker.h"
#include "tests/unit/test_util.h"
#include "tls/x509.h"

using namespace esk8s::plugin;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

class Lines : public esk8s::LogSink {
 public:
  bool enabled(esk8s::LogLevel) const override { return true; }
  void write(esk8s::LogLevel l, std::string_view c, std::string_view m,
             std::span<const esk8s::LogField> f) override {
    std::lock_guard lock(mu_);
    lines_.push_back(esk8s::format_record(l, c, m, f));
  }
  int count(const std::string& part) {
    std::lock_guard lock(mu_);
    int n = 0;
    for (const auto& l : lines_) n += l.find(part) != std::string::npos;
    return n;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> lines_;
};

// An API server for namespace prod: the Pod esdb-0 (uid u-0), and the Events collection.
struct Api {
  esk8s::test::TempDir dir;
  std::unique_ptr<httplib::SSLServer> server;
  std::thread thread;
  std::string ca_pem;
  int port = 0;
  std::mutex mu;
  std::vector<json> created;         // guarded by mu
  std::vector<std::string> patches;  // guarded by mu: "<content type> <body>"
  std::atomic<int> pod_reads{0}, posts{0};
  std::atomic<bool> forbid{false};
  std::chrono::milliseconds post_delay{0};

  Api() {
    auto ca = esk8s::tls::make_self_signed_ca("events test CA", esk8s::tls::KeyType::kEcdsaP256,
                                              24h);
    REQUIRE(ca.is_ok());
    esk8s::tls::CertSpec spec;
    spec.common_name = "apiserver";
    spec.ip_addresses = {"127.0.0.1"};
    auto cert = esk8s::tls::issue(spec, ca.value());
    REQUIRE(cert.is_ok());
    ca_pem = ca->cert_pem;
    server = std::make_unique<httplib::SSLServer>(dir.write("s.crt", cert->cert_pem).c_str(),
                                                  dir.write("s.key", cert->key_pem).c_str());
    server->Get("/api/v1/namespaces/prod/pods/esdb-0", [&](const auto&, auto& res) {
      ++pod_reads;
      res.set_content(R"({"metadata":{"name":"esdb-0","uid":"u-0"}})", "application/json");
    });
    server->Post("/apis/events.k8s.io/v1/namespaces/prod/events",
                 [&](const httplib::Request& req, httplib::Response& res) {
                   ++posts;
                   std::this_thread::sleep_for(post_delay);
                   if (forbid) {
                     res.status = 403;
                     res.set_content(R"({"kind":"Status","message":"events.events.k8s.io is )"
                                     R"(forbidden: User \"system:serviceaccount:prod:esdb\"")"
                                     R"( cannot create resource \"events\""})",
                                     "application/json");
                     return;
                   }
                   std::lock_guard lock(mu);
                   created.push_back(json::parse(req.body));
                   res.status = 201;
                   res.set_content(req.body, "application/json");
                 });
    server->Patch(R"(/apis/events.k8s.io/v1/namespaces/prod/events/([a-z0-9.-]+))",
                  [&](const httplib::Request& req, httplib::Response& res) {
                    std::lock_guard lock(mu);
                    patches.push_back(req.get_header_value("Content-Type") + " " + req.body);
                    res.set_content("{}", "application/json");
                  });
    port = server->bind_to_any_port("127.0.0.1");
    REQUIRE(port > 0);
    thread = std::thread([this] { server->listen_after_bind(); });
    // Listening before anything may stop it (a stop() before listen is lost: join would hang).
    REQUIRE(esk8s::test::eventually([this] { return server->is_running(); }));
  }
  ~Api() {
    server->stop();
    thread.join();
  }
  std::unique_ptr<esk8s::kube::KubeClient> client() {
    esk8s::kube::KubeConfig kc;
    kc.server = "https://127.0.0.1:" + std::to_string(port);
    kc.ca_pem = ca_pem;
    kc.token = "t";
    kc.source = "test";
    auto c = esk8s::kube::KubeClient::create(kc, {}, esk8s::Logger(nullptr, "test"));
    REQUIRE(c.is_ok());
    return std::move(c.value());
  }
  size_t created_count() {
    std::lock_guard lock(mu);
    return created.size();
  }
  size_t patch_count() {
    std::lock_guard lock(mu);
    return patches.size();
  }
};

EventWorkerSettings settings() {
  EventWorkerSettings s;
  s.recorder.instance = "esk8s-esdb-0";
  s.recorder.regarding.namespace_name = "prod";
  s.recorder.regarding.name = "esdb-0";
  s.tick = 20ms;
  return s;
}

using esk8s::test::eventually;

}  // namespace

TEST_CASE("event worker: creates with the Pod's uid, then patches the series with a merge patch") {
  Api api;
  auto sink = std::make_shared<Lines>();
  EventWorker w(settings(), api.client(), esk8s::Logger(sink, "events"));
  w.start();
  w.emit(EventType::kWarning, event_reason::kMemberDied, "ObserveMembership", "member x died");
  REQUIRE(eventually([&] { return api.created_count() == 1; }));
  {
    std::lock_guard lock(api.mu);
    CHECK(api.created[0]["regarding"]["uid"] == "u-0");
    CHECK(api.created[0]["reason"] == "MemberDied");
    CHECK(api.created[0]["note"] == "member x died");
  }
  w.emit(EventType::kWarning, event_reason::kMemberDied, "ObserveMembership", "member x died");
  REQUIRE(eventually([&] { return api.patch_count() == 1; }));
  {
    std::lock_guard lock(api.mu);
    CHECK(api.patches[0].rfind("application/merge-patch+json {\"series\":{\"count\":2,", 0) == 0);
  }
  w.emit(EventType::kNormal, event_reason::kMemberLeft, "ObserveMembership", "member y left");
  REQUIRE(eventually([&] { return api.created_count() == 2; }));
  CHECK(api.pod_reads == 1);  // the uid is read once
  w.stop();
  w.emit(EventType::kNormal, event_reason::kMemberLeft, "ObserveMembership", "after stop");
  CHECK(api.created_count() == 2);
  CHECK(sink->count("cannot") == 0);
}

TEST_CASE("event worker: a 403 is logged once naming rbac/role.yaml and writing pauses") {
  Api api;
  api.forbid = true;
  auto sink = std::make_shared<Lines>();
  EventWorker w(settings(), api.client(), esk8s::Logger(sink, "events"));
  w.start();
  for (int i = 0; i < 50; ++i) {
    w.emit(EventType::kWarning, event_reason::kQuorumLost, "ObserveQuorum",
           "flap " + std::to_string(i % 5));
  }
  REQUIRE(eventually([&] { return sink->count("cannot write Kubernetes Events") == 1; }));
  std::this_thread::sleep_for(300ms);
  CHECK(sink->count("cannot write Kubernetes Events") == 1);
  CHECK(sink->count("rbac/role.yaml") == 1);
  CHECK(sink->count("cannot create resource") == 1);  // the API's own message
  CHECK(api.posts == 1);  // paused after the first refusal
  w.stop();
}

TEST_CASE("event worker: emit never waits for a slow API, a full queue drops and counts") {
  Api api;
  api.post_delay = 300ms;
  EventWorkerSettings s = settings();
  s.queue_capacity = 8;
  EventWorker w(s, api.client(), esk8s::Logger(nullptr, "events"));
  w.start();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 1000; ++i) {
    w.emit(EventType::kWarning, event_reason::kMemberDied, "ObserveMembership",
           "member " + std::to_string(i) + " died");
  }
  const auto took = std::chrono::steady_clock::now() - t0;
  CHECK(took < 200ms);  // 1000 emits while a request takes 300 ms
  CHECK(w.dropped() >= 1000 - 8 - 1 - 25);
  w.stop();  // cancels the request in flight
}
