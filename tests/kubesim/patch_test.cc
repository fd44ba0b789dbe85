#include <doctest/doctest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "tests/kubesim/patch.h"

using esk8s::Status;
using kubesim::merge_patch;
using kubesim::strategic_merge_patch;
using nlohmann::json;

namespace {

json j(const char* text) { return json::parse(text); }

// Applies a patch that must succeed.
json smp(const json& target, const json& patch, const std::string& kind) {
  auto r = strategic_merge_patch(target, patch, kind);
  INFO(r.status().to_string());
  REQUIRE(r.is_ok());
  return r.value();
}

// The message of a patch that must fail with invalid_argument.
std::string smp_error(const json& target, const json& patch, const std::string& kind) {
  auto r = strategic_merge_patch(target, patch, kind);
  REQUIRE_FALSE(r.is_ok());
  CHECK(r.status().code() == Status::Code::kInvalidArgument);
  return r.status().message();
}

bool has_directive(const json& v) {
  if (v.is_array()) {
    for (const json& item : v) {
      if (has_directive(item)) return true;
    }
  }
  if (v.is_object()) {
    for (const auto& [key, value] : v.items()) {
      if (key == "$patch" || key == "$retainKeys" || key.starts_with("$setElementOrder/") ||
          key.starts_with("$deleteFromPrimitiveList/") || has_directive(value)) {
        return true;
      }
    }
  }
  return false;
}

}  // namespace

// ---- JSON merge patch (RFC 7386) ----

TEST_CASE("merge patch: objects merge recursively and null deletes a key (RFC 7386 example)") {
  json target = j(R"({"title":"Goodbye!","author":{"givenName":"John","familyName":"Doe"},
                      "tags":["example","sample"],"content":"This will be unchanged"})");
  json patch = j(R"({"title":"Hello!","phoneNumber":"+01-123-456-7890",
                     "author":{"familyName":null},"tags":["example"]})");
  CHECK(merge_patch(target, patch) ==
        j(R"({"title":"Hello!","author":{"givenName":"John"},"tags":["example"],
              "content":"This will be unchanged","phoneNumber":"+01-123-456-7890"})"));
}

TEST_CASE("merge patch: arrays and scalars replace, and a non-object patch replaces the target") {
  CHECK(merge_patch(j(R"({"a":[1,2,3]})"), j(R"({"a":[3]})")) == j(R"({"a":[3]})"));
  CHECK(merge_patch(j(R"({"a":{"b":1}})"), j(R"({"a":"x"})")) == j(R"({"a":"x"})"));
  CHECK(merge_patch(j(R"({"a":"x"})"), j(R"({"a":{"b":1}})")) == j(R"({"a":{"b":1}})"));
  CHECK(merge_patch(j(R"({"a":1})"), j(R"([1,2])")) == j(R"([1,2])"));
  CHECK(merge_patch(j(R"("text")"), j(R"({"a":1})")) == j(R"({"a":1})"));
  // A null inside a new object is dropped, not stored.
  CHECK(merge_patch(j("{}"), j(R"({"a":{"b":null,"c":1}})")) == j(R"({"a":{"c":1}})"));
  CHECK(merge_patch(j(R"({"a":1})"), j("{}")) == j(R"({"a":1})"));
}

TEST_CASE("merge patch: the target is not modified") {
  const json target = j(R"({"a":{"b":1,"c":[1]},"d":2})");
  const json copy = target;
  CHECK(merge_patch(target, j(R"({"a":{"b":null,"c":[2]},"d":null})")) == j(R"({"a":{"c":[2]}})"));
  CHECK(target == copy);
}

// ---- strategic merge patch: maps ----

TEST_CASE("strategic merge: maps merge recursively and a null deletes a label") {
  json target =
      j(R"({"kind":"ConfigMap","metadata":{"name":"cfg","labels":{"app":"esk8s","tier":"web"}},
                      "data":{"k1":"v1","k2":"v2"}})");
  json patch = j(R"({"metadata":{"labels":{"tier":null,"release":"stable"}},
                     "data":{"k2":"changed","k3":"v3"}})");
  CHECK(smp(target, patch, "ConfigMap") ==
        j(R"({"kind":"ConfigMap","metadata":{"name":"cfg","labels":{"app":"esk8s",
      "release":"stable"}},
              "data":{"k1":"v1","k2":"changed","k3":"v3"}})"));
  // Deleting a key the target lacks is a no-op, and the null is not stored.
  CHECK(smp(target, j(R"({"metadata":{"annotations":null,"labels":{"nope":null}}})"),
            "ConfigMap") == target);
}

TEST_CASE("strategic merge: $patch: merge is the default and leaves no marker") {
  json target = j(R"({"metadata":{"labels":{"a":"1"}}})");
  CHECK(smp(target, j(R"({"metadata":{"labels":{"$patch":"merge","b":"2"}}})"), "Pod") ==
        j(R"({"metadata":{"labels":{"a":"1","b":"2"}}})"));
}

TEST_CASE("strategic merge: $patch: replace in a map replaces the whole map") {
  json target = j(R"({"spec":{"nodeSelector":{"disk":"hdd","zone":"a"},"hostname":"h"}})");
  CHECK(smp(target, j(R"({"spec":{"nodeSelector":{"$patch":"replace","disk":"ssd"}}})"), "Pod") ==
        j(R"({"spec":{"nodeSelector":{"disk":"ssd"},"hostname":"h"}})"));
  // At the root: the object becomes the patch minus the directive.
  CHECK(smp(target, j(R"({"$patch":"replace","kind":"Pod"})"), "Pod") == j(R"({"kind":"Pod"})"));
}

TEST_CASE("strategic merge: $patch: delete in a map removes that map") {
  json target = j(R"({"spec":{"replicas":3,"strategy":{"type":"RollingUpdate",
                      "rollingUpdate":{"maxSurge":1,"maxUnavailable":0}}}})");
  CHECK(smp(target, j(R"({"spec":{"strategy":{"rollingUpdate":{"$patch":"delete"}}}})"),
            "Deployment") == j(R"({"spec":{"replicas":3,"strategy":{"type":"RollingUpdate"}}})"));
  // A map the target does not have stays absent.
  CHECK(smp(target, j(R"({"spec":{"paused":{"$patch":"delete"}}})"), "Deployment") == target);
  // At the root the object is emptied (the object itself is not the patch's to remove).
  CHECK(smp(target, j(R"({"$patch":"delete"})"), "Deployment") == j("{}"));
}

TEST_CASE("strategic merge: $retainKeys drops keys not listed, in maps and in list items") {
  json deployment =
      j(R"({"spec":{"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":"25%"}}}})");
  CHECK(smp(deployment, j(R"({"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}})"),
            "Deployment") == j(R"({"spec":{"strategy":{"type":"Recreate"}}})"));

  // kubectl apply switching a volume's source from emptyDir to a PVC.
  json sts = j(R"({"spec":{"template":{"spec":{"volumes":[
      {"name":"data","emptyDir":{}},{"name":"cfg","configMap":{"name":"c"}}]}}}})");
  json patch = j(R"({"spec":{"template":{"spec":{
      "$setElementOrder/volumes":[{"name":"data"},{"name":"cfg"}],
      "volumes":[{"name":"data","$retainKeys":["name","persistentVolumeClaim"],
                  "persistentVolumeClaim":{"claimName":"data-0"}}]}}}})");
  CHECK(smp(sts, patch, "StatefulSet") == j(R"({"spec":{"template":{"spec":{"volumes":[
            {"name":"data","persistentVolumeClaim":{"claimName":"data-0"}},
            {"name":"cfg","configMap":{"name":"c"}}]}}}})"));
}

TEST_CASE("strategic merge: a patch field missing from $retainKeys is rejected naming its path") {
  json target = j(R"({"spec":{"strategy":{"type":"RollingUpdate"}}})");
  std::string msg =
      smp_error(target, j(R"({"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate",
      "rollingUpdate":{"maxSurge":1}}}})"),
                "Deployment");
  CHECK(msg.find("spec.strategy.rollingUpdate") != std::string::npos);
  CHECK(msg.find("$retainKeys") != std::string::npos);
  // A null for an unlisted key is fine: it only deletes.
  CHECK(smp(target, j(R"({"spec":{"strategy":{"$retainKeys":["type"],"rollingUpdate":null}}})"),
            "Deployment") == target);
}

// ---- strategic merge patch: merge lists ----

TEST_CASE("strategic merge: containers merge by name and keep unmentioned containers") {
  json target = j(R"({"spec":{"containers":[
      {"name":"app","image":"app:1","ports":[{"containerPort":80}]},
      {"name":"sidecar","image":"sidecar:1"}]}})");
  json patch = j(R"({"spec":{"containers":[{"name":"sidecar","image":"sidecar:2"}]}})");
  CHECK(smp(target, patch, "Pod") == j(R"({"spec":{"containers":[
            {"name":"app","image":"app:1","ports":[{"containerPort":80}]},
            {"name":"sidecar","image":"sidecar:2"}]}})"));
}

TEST_CASE("strategic merge: without $setElementOrder an added container goes first") {
  // strategicpatch puts an item the server lacks before server-only items it cannot place
  // (the kubectl patch docs show the added container first).
  json target = j(R"({"spec":{"containers":[{"name":"app","image":"app:1"}]}})");
  CHECK(smp(target, j(R"({"spec":{"containers":[{"name":"debug","image":"busybox"}]}})"), "Pod") ==
        j(R"({"spec":{"containers":[{"name":"debug","image":"busybox"},{"name":"app",
      "image":"app:1"}]}})"));
  // Without $setElementOrder the patch's own order wins for the items it names.
  json three = j(R"({"spec":{"containers":[{"name":"a"},{"name":"b","image":"b"},{"name":"c"}]}})");
  CHECK(smp(three,
            j(R"({"spec":{"containers":[{"name":"c","image":"c"},{"name":"a","image":"a"}]}})"),
            "Pod") ==
        j(R"({"spec":{"containers":[{"name":"b","image":"b"},{"name":"c","image":"c"},{"name":"a",
      "image":"a"}]}})"));
}

TEST_CASE("strategic merge: kubectl apply on a StatefulSet changes one image and one env var") {
  // The live object carries server defaults and a container injected by a webhook (not in the
  // applied config); the patch is what kubectl 1.32 sends for a new image and LOG_LEVEL.
  const json live = j(R"({
    "apiVersion":"apps/v1","kind":"StatefulSet",
    "metadata":{"name":"esk8s","namespace":"default","uid":"0b5c","resourceVersion":"812",
      "generation":3,
      "labels":{"app":"esk8s"},
      "annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"old\":true}"}},
    "spec":{"replicas":3,"serviceName":"esk8s","podManagementPolicy":"Parallel",
      "selector":{"matchLabels":{"app":"esk8s"}},
      "template":{"metadata":{"labels":{"app":"esk8s"}},
        "spec":{"containers":[
          {"name":"esk8s","image":"esk8s:1.0","imagePullPolicy":"IfNotPresent",
           "args":["--config","/etc/esk8s/config.yaml"],
           "env":[{"name":"POD_NAME","valueFrom":{"fieldRef":{"apiVersion":"v1",
      "fieldPath":"metadata.name"}}},
                  {"name":"LOG_LEVEL","value":"info"},
                  {"name":"PEERS","value":"3"}],
           "ports":[{"containerPort":7946,"name":"gossip","protocol":"TCP"},
                    {"containerPort":8080,"name":"http","protocol":"TCP"}],
           "volumeMounts":[{"name":"config","mountPath":"/etc/esk8s"}],
           "resources":{"limits":{"memory":"128Mi"}},
           "terminationMessagePath":"/dev/termination-log"},
          {"name":"exporter","image":"exporter:2.1"},
          {"name":"injected-proxy","image":"proxy:9"}],
          "volumes":[{"name":"config","configMap":{"name":"esk8s","defaultMode":420}}],
          "restartPolicy":"Always","dnsPolicy":"ClusterFirst"}}},
    "status":{"replicas":3,"readyReplicas":3,"currentRevision":"esk8s-7d9"}})");
  const json patch = j(R"({
    "metadata":{"annotations":{
      "kubectl.kubernetes.io/last-applied-configuration":"{\"new\":true}"}},
    "spec":{"template":{"spec":{
      "$setElementOrder/containers":[{"name":"esk8s"},{"name":"exporter"}],
      "containers":[{"name":"esk8s","image":"esk8s:1.1",
        "$setElementOrder/env":[{"name":"POD_NAME"},{"name":"LOG_LEVEL"},{"name":"PEERS"}],
        "env":[{"name":"LOG_LEVEL","value":"debug"}]}]}}}})");

  json want = live;
  want["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] =
      "{\"new\":true}";
  json& app = want["spec"]["template"]["spec"]["containers"][0];
  app["image"] = "esk8s:1.1";
  app["env"][1]["value"] = "debug";

  json got = smp(live, patch, "StatefulSet");
  CHECK(got == want);
  CHECK_FALSE(has_directive(got));
}

TEST_CASE("strategic merge: $setElementOrder orders a list the patch does not otherwise touch") {
  json target = j(R"({"metadata":{"finalizers":["a","b","c"]},
                      "spec":{"containers":[{"name":"x"},{"name":"y"},{"name":"z"}]}})");
  json patch = j(R"({"metadata":{"$setElementOrder/finalizers":["c","a","b"]},
                     "spec":{"$setElementOrder/containers":[{"name":"z"},{"name":"x"},
      {"name":"y"}]}})");
  CHECK(smp(target, patch, "Pod") == j(R"({"metadata":{"finalizers":["c","a","b"]},
              "spec":{"containers":[{"name":"z"},{"name":"x"},{"name":"y"}]}})"));
}

TEST_CASE("strategic merge: $setElementOrder keeps server-only items where the server had them") {
  // Unlisted items the server had after every listed item stay after them.
  json tail = j(R"({"spec":{"containers":[{"name":"b"},{"name":"a"},{"name":"injected"}]}})");
  CHECK(smp(tail, j(R"({"spec":{"$setElementOrder/containers":[{"name":"a"},{"name":"b"}]}})"),
            "Pod") ==
        j(R"({"spec":{"containers":[{"name":"a"},{"name":"b"},{"name":"injected"}]}})"));
  // One the server had before a listed item stays before it (strategicpatch mergeSortedSlice).
  json middle = j(R"({"spec":{"containers":[{"name":"a"},{"name":"x"},{"name":"b"}]}})");
  CHECK(smp(middle, j(R"({"spec":{"$setElementOrder/containers":[{"name":"b"},{"name":"a"}]}})"),
            "Pod") == j(R"({"spec":{"containers":[{"name":"x"},{"name":"b"},{"name":"a"}]}})"));
  // Listed items the list lacks are ignored.
  CHECK(smp(tail, j(R"({"spec":{"$setElementOrder/containers":[{"name":"gone"},{"name":"a"},
      {"name":"b"}]}})"),
            "Pod") ==
        j(R"({"spec":{"containers":[{"name":"a"},{"name":"b"},{"name":"injected"}]}})"));
}

TEST_CASE("strategic merge: a patch list whose order contradicts $setElementOrder is rejected") {
  json target = j(R"({"spec":{"containers":[{"name":"a"},{"name":"b"}]}})");
  std::string msg = smp_error(target, j(R"({"spec":{
      "$setElementOrder/containers":[{"name":"a"},{"name":"b"}],
      "containers":[{"name":"b","image":"b"},{"name":"a","image":"a"}]}})"),
                              "Pod");
  CHECK(msg.find("spec.containers") != std::string::npos);
  CHECK(msg.find("$setElementOrder/containers") != std::string::npos);
}

TEST_CASE("strategic merge: env, ports, volumeMounts and volumeDevices merge by their keys") {
  json target = j(R"({"spec":{"initContainers":[{"name":"c",
      "env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],
      "ports":[{"containerPort":80,"name":"http"},{"containerPort":443}],
      "volumeMounts":[{"name":"data","mountPath":"/data"},{"name":"cfg","mountPath":"/etc/cfg"}],
      "volumeDevices":[{"name":"blk","devicePath":"/dev/xvda"}]}]}})");
  json patch = j(R"({"spec":{"initContainers":[{"name":"c",
      "env":[{"name":"B","value":"3"}],
      "ports":[{"containerPort":443,"name":"https"}],
      "volumeMounts":[{"mountPath":"/data","readOnly":true}],
      "volumeDevices":[{"name":"blk2","devicePath":"/dev/xvdb"}]}]}})");
  CHECK(smp(target, patch, "Pod") == j(R"({"spec":{"initContainers":[{"name":"c",
      "env":[{"name":"A","value":"1"},{"name":"B","value":"3"}],
      "ports":[{"containerPort":80,"name":"http"},{"containerPort":443,"name":"https"}],
      "volumeMounts":[{"name":"data","mountPath":"/data","readOnly":true},{"name":"cfg",
      "mountPath":"/etc/cfg"}],
      "volumeDevices":[{"name":"blk2","devicePath":"/dev/xvdb"},{"name":"blk",
      "devicePath":"/dev/xvda"}]}]}})"));
}

TEST_CASE("strategic merge: volumes, imagePullSecrets, hostAliases merge by their keys") {
  json target = j(R"({"spec":{"template":{"spec":{
      "volumes":[{"name":"cfg","configMap":{"name":"a"}},{"name":"data","emptyDir":{}}],
      "imagePullSecrets":[{"name":"r1"}],
      "hostAliases":[{"ip":"10.0.0.1","hostnames":["a"]},{"ip":"10.0.0.2","hostnames":["b"]}],
      "ephemeralContainers":[{"name":"dbg","image":"busybox"}]}}}})");
  json patch = j(R"({"spec":{"template":{"spec":{
      "volumes":[{"name":"cfg","configMap":{"name":"b"}}],
      "imagePullSecrets":[{"name":"r1"},{"name":"r2"}],
      "hostAliases":[{"ip":"10.0.0.1","hostnames":["c"]}],
      "ephemeralContainers":[{"name":"dbg","tty":true}]}}}})");
  CHECK(smp(target, patch, "Deployment") == j(R"({"spec":{"template":{"spec":{
      "volumes":[{"name":"cfg","configMap":{"name":"b"}},{"name":"data","emptyDir":{}}],
      "imagePullSecrets":[{"name":"r1"},{"name":"r2"}],
      "hostAliases":[{"ip":"10.0.0.1","hostnames":["c"]},{"ip":"10.0.0.2","hostnames":["b"]}],
      "ephemeralContainers":[{"name":"dbg","image":"busybox","tty":true}]}}}})"));
}

TEST_CASE("strategic merge: the PodSpec is found where each workload kind keeps it") {
  struct Row {
    const char* kind;
    const char* pod_spec;  // JSON pointer
  };
  for (Row r : {Row{"Pod", "/spec"}, Row{"StatefulSet", "/spec/template/spec"},
                Row{"Deployment", "/spec/template/spec"}, Row{"DaemonSet", "/spec/template/spec"},
                Row{"ReplicaSet", "/spec/template/spec"}, Row{"Job", "/spec/template/spec"},
                Row{"CronJob", "/spec/jobTemplate/spec/template/spec"}}) {
    CAPTURE(r.kind);
    const json::json_pointer at(r.pod_spec);
    json target, patch, want;
    target[at / "containers"] = j(R"([{"name":"a","image":"a:1"},{"name":"b","image":"b:1"}])");
    patch[at / "containers"] = j(R"([{"name":"b","image":"b:2"}])");
    want[at / "containers"] = j(R"([{"name":"a","image":"a:1"},{"name":"b","image":"b:2"}])");
    CHECK(smp(target, patch, r.kind) == want);
  }
}

TEST_CASE("strategic merge: a list named like a merge list outside its known path is replaced") {
  // Not a PodSpec: a StatefulSet has no spec.containers, a Pod no spec.template.spec.
  json sts = j(R"({"spec":{"containers":[{"name":"a"},{"name":"b"}]}})");
  CHECK(smp(sts, j(R"({"spec":{"containers":[{"name":"b","image":"x"}]}})"), "StatefulSet") ==
        j(R"({"spec":{"containers":[{"name":"b","image":"x"}]}})"));
  json pod = j(R"({"spec":{"template":{"spec":{"containers":[{"name":"a"},{"name":"b"}]}}}})");
  CHECK(smp(pod, j(R"({"spec":{"template":{"spec":{"containers":[{"name":"b"}]}}}})"), "Pod") ==
        j(R"({"spec":{"template":{"spec":{"containers":[{"name":"b"}]}}}})"));
  // `ports` merges by containerPort in a container, by port in a Service, and nowhere else.
  json cm = j(R"({"data":{"x":"y"},"spec":{"ports":[{"port":1},{"port":2}]}})");
  CHECK(smp(cm, j(R"({"spec":{"ports":[{"port":2,"name":"b"}]}})"), "ConfigMap") ==
        j(R"({"data":{"x":"y"},"spec":{"ports":[{"port":2,"name":"b"}]}})"));
}

TEST_CASE("strategic merge: lists without a merge key are replaced (tolerations, args)") {
  json target = j(R"({"spec":{"tolerations":[{"key":"a","operator":"Exists"}],
                      "containers":[{"name":"c","args":["--a","--b"],"command":["run"]}]}})");
  json patch = j(R"({"spec":{"tolerations":[{"key":"b","operator":"Exists"}],
                     "containers":[{"name":"c","args":["--c"]}]}})");
  CHECK(smp(target, patch, "Pod") == j(R"({"spec":{"tolerations":[{"key":"b","operator":"Exists"}],
              "containers":[{"name":"c","args":["--c"],"command":["run"]}]}})"));
}

TEST_CASE("strategic merge: Service ports merge by port") {
  json target = j(R"({"spec":{"type":"ClusterIP","clusterIP":"10.96.0.10",
      "ports":[{"name":"http","port":80,"targetPort":8080,"protocol":"TCP"},
               {"name":"gossip","port":7946,"targetPort":7946,"protocol":"TCP"}]}})");
  json patch = j(R"({"spec":{"ports":[{"port":80,"targetPort":9090}]}})");
  CHECK(smp(target, patch, "Service") == j(R"({"spec":{"type":"ClusterIP","clusterIP":"10.96.0.10",
      "ports":[{"name":"http","port":80,"targetPort":9090,"protocol":"TCP"},
               {"name":"gossip","port":7946,"targetPort":7946,"protocol":"TCP"}]}})"));
}

TEST_CASE("strategic merge: status.conditions merge by type for Pod, Node and Deployment") {
  json target = j(R"({"status":{"phase":"Running","conditions":[
      {"type":"Ready","status":"False","reason":"ContainersNotReady"},
      {"type":"PodScheduled","status":"True"}]}})");
  json patch = j(R"({"status":{"conditions":[{"type":"Ready","status":"True","reason":null}]}})");
  json want = j(R"({"status":{"phase":"Running","conditions":[
      {"type":"Ready","status":"True"},{"type":"PodScheduled","status":"True"}]}})");
  for (const char* kind : {"Pod", "Node", "Deployment"}) {
    CAPTURE(kind);
    CHECK(smp(target, patch, kind) == want);
  }
}

TEST_CASE("strategic merge: ownerReferences merge by uid and finalizers merge as a set") {
  json target = j(R"({"metadata":{"name":"p",
      "ownerReferences":[{"uid":"u1","kind":"StatefulSet","name":"s"},{"uid":"u2","kind":"Node",
      "name":"n"}],
      "finalizers":["a","b"]}})");
  json patch = j(R"({"metadata":{"ownerReferences":[{"uid":"u2","controller":false}],
                                 "finalizers":["b","c"]}})");
  CHECK(smp(target, patch, "Pod") == j(R"({"metadata":{"name":"p",
      "ownerReferences":[{"uid":"u1","kind":"StatefulSet","name":"s"},
                         {"uid":"u2","kind":"Node","name":"n","controller":false}],
      "finalizers":["a","b","c"]}})"));
}

TEST_CASE("strategic merge: $patch: delete removes a container by its merge key") {
  json target = j(R"({"spec":{"template":{"spec":{"containers":[
      {"name":"app","image":"app:1"},{"name":"sidecar","image":"s:1"},{"name":"sidecar",
      "image":"dup"}]}}}})");
  // Every item with the key goes, duplicates included; deleting an absent name is a no-op.
  json patch = j(R"({"spec":{"template":{"spec":{
      "$setElementOrder/containers":[{"name":"app"}],
      "containers":[{"name":"sidecar","$patch":"delete"},{"name":"never-there",
      "$patch":"delete"}]}}}})");
  CHECK(smp(target, patch, "StatefulSet") ==
        j(R"({"spec":{"template":{"spec":{"containers":[{"name":"app","image":"app:1"}]}}}})"));
}

TEST_CASE("strategic merge: $patch: replace as a list item replaces the whole list") {
  json target = j(R"({"spec":{"containers":[{"name":"a","image":"a"},{"name":"b","image":"b"}],
                      "volumes":[{"name":"v"}]}})");
  CHECK(smp(target, j(R"({"spec":{"containers":[{"name":"c","image":"c"},{"$patch":"replace"}]}})"),
            "Pod") ==
        j(R"({"spec":{"containers":[{"name":"c","image":"c"}],"volumes":[{"name":"v"}]}})"));
  CHECK(smp(target, j(R"({"spec":{"volumes":[{"$patch":"replace"}]}})"), "Pod") ==
        j(R"({"spec":{"containers":[{"name":"a","image":"a"},{"name":"b","image":"b"}],
      "volumes":[]}})"));
}

TEST_CASE("strategic merge: $deleteFromPrimitiveList/finalizers removes those finalizers") {
  json target = j(R"({"metadata":{"finalizers":["a","b","c","b"]}})");
  CHECK(smp(target, j(R"({"metadata":{"$deleteFromPrimitiveList/finalizers":["b","zzz"]}})"),
            "Pod") == j(R"({"metadata":{"finalizers":["a","c"]}})"));
  // As kubectl apply sends it, with the order of the remaining finalizers and one added.
  CHECK(smp(target, j(R"({"metadata":{"$setElementOrder/finalizers":["c","a","d"],
                                       "$deleteFromPrimitiveList/finalizers":["b"],
                                       "finalizers":["d"]}})"),
            "Pod") == j(R"({"metadata":{"finalizers":["c","a","d"]}})"));
  // Nothing is created when the list is absent.
  CHECK(smp(j(R"({"metadata":{"name":"x"}})"),
            j(R"({"metadata":{"$deleteFromPrimitiveList/finalizers":["b"]}})"),
            "Pod") == j(R"({"metadata":{"name":"x"}})"));
}

TEST_CASE("strategic merge: unknown kinds replace lists like merge patch but still merge maps") {
  json target = j(R"({"metadata":{"finalizers":["x"],"labels":{"a":"1"}},
                      "spec":{"containers":[{"name":"a"},{"name":"b"}]}})");
  json patch = j(R"({"metadata":{"finalizers":["y"],"labels":{"b":"2"}},
                     "spec":{"$setElementOrder/containers":[{"name":"b"}],
      "containers":[{"name":"b","image":"b"}]}})");
  json got = smp(target, patch, "Certificate");
  CHECK(got == j(R"({"metadata":{"finalizers":["y"],"labels":{"a":"1","b":"2"}},
                     "spec":{"containers":[{"name":"b","image":"b"}]}})"));
  CHECK_FALSE(has_directive(got));
}

TEST_CASE("strategic merge: no directive survives, including on fields the target lacks") {
  json target = j(R"({"metadata":{"name":"p"},"spec":{"containers":[{"name":"app"}]}})");
  json patch = j(R"({"metadata":{"$deleteFromPrimitiveList/finalizers":["f"]},"spec":{
      "$setElementOrder/initContainers":[{"name":"init"}],
      "initContainers":[{"name":"init","image":"i",
          "$setElementOrder/env":[{"name":"A"}],
          "env":[{"name":"A","value":"1"},{"name":"GONE","$patch":"delete"}]}],
      "affinity":{"$patch":"delete"},
      "nodeSelector":{"$patch":"replace","disk":"ssd"},
      "securityContext":{"$retainKeys":["runAsUser"],"runAsUser":1000,"fsGroup":null},
      "tolerations":[{"$patch":"replace"},{"key":"k","operator":"Exists"}]}})");
  json got = smp(target, patch, "Pod");
  CHECK(got == j(R"({"metadata":{"name":"p"},"spec":{
      "containers":[{"name":"app"}],
      "initContainers":[{"name":"init","image":"i","env":[{"name":"A","value":"1"}]}],
      "nodeSelector":{"disk":"ssd"},
      "securityContext":{"runAsUser":1000},
      "tolerations":[{"key":"k","operator":"Exists"}]}})"));
  CHECK_FALSE(has_directive(got));
}

TEST_CASE("strategic merge: the target is not modified and a null target counts as empty") {
  const json target = j(R"({"metadata":{"labels":{"a":"1"},"finalizers":["x","y"]},
      "spec":{"containers":[{"name":"c","env":[{"name":"A","value":"1"}]}]}})");
  const json copy = target;
  json patch = j(R"({"metadata":{"labels":{"a":null},"$deleteFromPrimitiveList/finalizers":["x"]},
      "spec":{"containers":[{"name":"c","env":[{"name":"A","$patch":"delete"}]}]}})");
  CHECK(smp(target, patch, "Pod") ==
        j(R"({"metadata":{"labels":{},"finalizers":["y"]},"spec":{"containers":[{"name":"c",
      "env":[]}]}})"));
  CHECK(target == copy);
  CHECK(smp(json(), j(R"({"metadata":{"name":"n","labels":{"x":null}}})"), "Pod") ==
        j(R"({"metadata":{"name":"n","labels":{}}})"));
}

// ---- strategic merge patch: errors ----

TEST_CASE("strategic merge: a bad $patch value is rejected naming the field path") {
  json target = j(R"({"spec":{"template":{"spec":{"containers":[{"name":"app"}]}}}})");
  std::string in_map =
      smp_error(target, j(R"({"spec":{"template":{"spec":{"$patch":"remove"}}}})"), "StatefulSet");
  CHECK(in_map.find("spec.template.spec") != std::string::npos);
  CHECK(in_map.find("\"remove\"") != std::string::npos);

  std::string in_list = smp_error(
      target,
      j(R"({"spec":{"template":{"spec":{"containers":[{"name":"app","$patch":"nuke"}]}}}})"),
      "StatefulSet");
  CHECK(in_list.find(R"(spec.template.spec.containers[name="app"])") != std::string::npos);

  std::string at_root = smp_error(target, j(R"({"$patch":true})"), "StatefulSet");
  CHECK(at_root.find("the patch root") != std::string::npos);
}

TEST_CASE("strategic merge: a patch that is not an object is rejected") {
  for (const char* patch : {"[]", R"("spec")", "null", "42", R"([{"op":"add"}])"}) {
    CAPTURE(patch);
    CHECK(smp_error(j("{}"), j(patch), "Pod").find("must be a JSON object") != std::string::npos);
  }
  CHECK(smp_error(j("[1]"), j("{}"), "Pod").find("must be a JSON object") != std::string::npos);
}

TEST_CASE("strategic merge: a merge-list item without its merge key is rejected") {
  json target = j(R"({"spec":{"ports":[{"port":80}]}})");
  std::string msg = smp_error(target, j(R"({"spec":{"ports":[{"targetPort":81}]}})"), "Service");
  CHECK(msg.find("spec.ports[0]") != std::string::npos);
  CHECK(msg.find("\"port\"") != std::string::npos);

  std::string del =
      smp_error(j("{}"), j(R"({"spec":{"containers":[{"$patch":"delete"}]}})"), "Pod");
  CHECK(del.find("spec.containers[0]") != std::string::npos);
  CHECK(del.find("\"name\"") != std::string::npos);

  CHECK(smp_error(j("{}"), j(R"({"spec":{"containers":["app"]}})"), "Pod")
            .find("spec.containers[0]") != std::string::npos);
}

TEST_CASE("strategic merge: malformed directive values are rejected naming the field path") {
  json target = j(R"({"metadata":{"finalizers":["a"]},"spec":{"containers":[{"name":"a"}]}})");
  CHECK(smp_error(target, j(R"({"spec":{"strategy":{"$retainKeys":"type"}}})"), "Deployment")
            .find("spec.strategy") != std::string::npos);
  CHECK(smp_error(target, j(R"({"spec":{"$setElementOrder/containers":{"name":"a"}}})"), "Pod")
            .find("$setElementOrder/containers at spec") != std::string::npos);
  CHECK(smp_error(target, j(R"({"spec":{"$setElementOrder/containers":["a"]}})"), "Pod")
            .find("merge key \"name\"") != std::string::npos);
  CHECK(smp_error(target, j(R"({"metadata":{"$deleteFromPrimitiveList/finalizers":"a"}})"), "Pod")
            .find("metadata") != std::string::npos);
  CHECK(smp_error(target, j(R"({"metadata":{"finalizers":[{"$patch":"delete"}]}})"), "Pod")
            .find("$deleteFromPrimitiveList/finalizers") != std::string::npos);
}
