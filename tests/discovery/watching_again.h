// The observable end of a relist, instead of a fixed sleep followed by "nothing else happened":
// after a 410 the source lists once and then watches again. An EndpointSlice of the service
// without endpoints (no peer changes) is created; the source receives it as a watch event only
// once it is watching again, and a second relist would have taken the slice in its list instead,
// so the event never arrives and the wait fails.
#pragma once

#include <string>

#include "tests/discovery/cluster_env.h"

namespace discovery_env {

// True once `s` has received the creation of the empty slice `name` in namespace prod as a watch
// event (within `limit`).
inline bool watching_again(Env& env, RunningSource& s, const std::string& name,
                           std::chrono::milliseconds limit = 20s) {
  const uint64_t events = s.stats().events;
  env.create("/apis/discovery.k8s.io/v1/namespaces/prod/endpointslices",
             {{"metadata",
               {{"name", name},
                {"labels",
                 {{"kubernetes.io/service-name", "esdb"},
                  {"endpointslice.kubernetes.io/managed-by", "test"}}}}},
              {"addressType", "IPv4"},
              {"endpoints", json::array()},
              {"ports", {{{"name", "gossip"}, {"port", 2114}}}}});
  return eventually([&] { return s.stats().events > events; }, limit);
}

}  // namespace discovery_env
