#include "kube/kube_config_yaml.h"

#include <algorithm>
#include <exception>
#include <optional>
#include <sstream>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

namespace esk8s::kube {

namespace {

using nlohmann::json;

// A problem found while building the tree; carries the parser position like YAML::Exception.
struct BuildError {
  YAML::Mark mark;
  std::string message;
};

// Builds a JSON value from yaml-cpp's parse events (the SAX interface), so that depth and size
// are checked as the parser goes instead of after yaml-cpp has built its own node graph.
class JsonBuilder : public YAML::EventHandler {
 public:
  explicit JsonBuilder(std::string_view text) : text_(text) {}
  std::optional<json> take() { return std::move(root_); }

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++documents_ > 1) {
      throw BuildError{mark, "a second YAML document starts here; a kubeconfig is one document"};
    }
  }
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    if (wants_key()) throw BuildError{mark, "a mapping key is empty"};
    count(mark, 1, 0);
    complete(json(nullptr), mark, anchor, 1, 0);
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    count(mark, 1, value.size());
    check_quote_closed(mark);
    // "?" is the tag of a plain (unquoted, untagged) scalar; only those resolve to booleans.
    const bool plain = tag == "?";
    if (wants_key()) {
      remember(anchor, json(value), 1, value.size());
      set_key(value, mark, plain);
      return;
    }
    json v = value;
    if (plain) {
      if (value == "true" || value == "True" || value == "TRUE") v = true;
      if (value == "false" || value == "False" || value == "FALSE") v = false;
    }
    complete(std::move(v), mark, anchor, 1, value.size());
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) throw BuildError{mark, "an alias names an unknown anchor"};
    const Stored& s = it->second;
    count(mark, s.nodes, s.bytes);
    if (wants_key()) {
      if (!s.value.is_string()) throw BuildError{mark, "a mapping key must be a string"};
      set_key(s.value.get<std::string>(), mark, false);
      return;
    }
    complete(s.value, mark, YAML::NullAnchor, 0, 0);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value /*style*/) override {
    open(mark, anchor, json::array());
  }
  void OnSequenceEnd() override { close(); }

  void OnMapStart(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value /*style*/) override {
    open(mark, anchor, json::object());
  }
  void OnMapEnd() override { close(); }

 private:
  struct Frame {
    json value;  // an array or an object
    YAML::Mark mark;
    YAML::anchor_t anchor = YAML::NullAnchor;
    size_t nodes_before = 0, bytes_before = 0;  // totals when the collection opened
    // Mappings only: the key waiting for its value, and `<<` merges applied at the end.
    bool has_key = false;
    bool key_plain = false;
    std::string key;
    YAML::Mark key_mark;
    std::vector<json> merges;
  };
  struct Stored {
    json value;
    size_t nodes = 0, bytes = 0;  // what one more copy of it costs
  };

  // yaml-cpp 0.7 ends a quoted scalar whose closing quote is missing at the end of the input
  // without an error, swallowing the rest of the file; find the closing quote ourselves.
  void check_quote_closed(const YAML::Mark& mark) const {
    if (mark.pos < 0 || static_cast<size_t>(mark.pos) >= text_.size()) return;
    const char quote = text_[static_cast<size_t>(mark.pos)];
    if (quote != '"' && quote != '\'') return;
    for (size_t i = static_cast<size_t>(mark.pos) + 1; i < text_.size(); ++i) {
      if (quote == '"' && text_[i] == '\\') {
        ++i;
      } else if (text_[i] == quote) {
        if (quote == '\'' && i + 1 < text_.size() && text_[i + 1] == '\'') {
          ++i;  // '' is a quote inside a single-quoted scalar
        } else {
          return;
        }
      }
    }
    throw BuildError{mark, "this quoted string has no closing quote"};
  }

  bool wants_key() const {
    return !stack_.empty() && stack_.back().value.is_object() && !stack_.back().has_key;
  }

  void count(const YAML::Mark& mark, size_t nodes, size_t bytes) {
    nodes_ += nodes;
    bytes_ += bytes;
    if (nodes_ > kKubeconfigMaxNodes || bytes_ > kKubeconfigMaxScalarBytes) {
      throw BuildError{mark,
                       "the document expands to more than " + std::to_string(kKubeconfigMaxNodes) +
                           " values or " + std::to_string(kKubeconfigMaxScalarBytes >> 20) +
                           " MiB of text (through aliases); a kubeconfig is far smaller"};
    }
  }

  void remember(YAML::anchor_t anchor, const json& value, size_t nodes, size_t bytes) {
    if (anchor != YAML::NullAnchor) anchors_[anchor] = Stored{value, nodes, bytes};
  }

  void set_key(std::string key, const YAML::Mark& mark, bool plain) {
    Frame& f = stack_.back();
    f.key = std::move(key);
    f.key_mark = mark;
    f.key_plain = plain;
    f.has_key = true;
  }

  void open(const YAML::Mark& mark, YAML::anchor_t anchor, json empty) {
    if (wants_key()) {
      throw BuildError{mark, "a mapping key is a collection; kubeconfig keys are plain strings"};
    }
    if (stack_.size() >= static_cast<size_t>(kKubeconfigMaxDepth)) {
      throw BuildError{mark, "collections are nested deeper than " +
                                 std::to_string(kKubeconfigMaxDepth) + " levels"};
    }
    Frame f;
    f.value = std::move(empty);
    f.mark = mark;
    f.anchor = anchor;
    f.nodes_before = nodes_;
    f.bytes_before = bytes_;
    count(mark, 1, 0);
    stack_.push_back(std::move(f));
  }

  void close() {
    Frame f = std::move(stack_.back());
    stack_.pop_back();
    // Keys written in the mapping win over merged ones; earlier merges win over later ones.
    for (const json& m : f.merges) {
      for (auto it = m.begin(); it != m.end(); ++it) {
        if (!f.value.contains(it.key())) f.value[it.key()] = it.value();
      }
    }
    complete(std::move(f.value), f.mark, f.anchor, nodes_ - f.nodes_before,
             bytes_ - f.bytes_before);
  }

  // Stores a finished value under its anchor and places it in its parent (or as the root).
  void complete(json value, const YAML::Mark& mark, YAML::anchor_t anchor, size_t nodes,
                size_t bytes) {
    remember(anchor, value, nodes, bytes);
    if (stack_.empty()) {
      root_ = std::move(value);
      return;
    }
    Frame& f = stack_.back();
    if (f.value.is_array()) {
      f.value.push_back(std::move(value));
      return;
    }
    f.has_key = false;
    if (f.key == "<<" && f.key_plain) {
      if (value.is_object()) {
        f.merges.push_back(std::move(value));
        return;
      }
      if (value.is_array() && std::all_of(value.begin(), value.end(),
                                          [](const json& m) { return m.is_object(); })) {
        for (json& m : value) f.merges.push_back(std::move(m));
        return;
      }
      throw BuildError{mark, "a << merge key needs a mapping or a list of mappings"};
    }
    if (f.value.contains(f.key)) {
      throw BuildError{f.key_mark, "the key \"" + f.key + "\" appears twice in one mapping"};
    }
    f.value[f.key] = std::move(value);
  }

  std::string_view text_;  // the input, for check_quote_closed
  std::vector<Frame> stack_;
  std::optional<json> root_;
  std::unordered_map<YAML::anchor_t, Stored> anchors_;
  int documents_ = 0;
  size_t nodes_ = 0, bytes_ = 0;  // totals so far, aliases expanded
};

Status at(const YAML::Mark& mark, const std::string& message) {
  if (mark.is_null() || mark.line < 0) return Status::config(message);
  return Status::config("line " + std::to_string(mark.line + 1) + ", column " +
                        std::to_string(mark.column + 1) + ": " + message);
}

}  // namespace

Result<json> parse_kubeconfig_yaml(std::string_view text) {
  if (text.size() > kKubeconfigMaxBytes) {
    return Status::config("the file is larger than " + std::to_string(kKubeconfigMaxBytes) +
                          " bytes (1 MiB); a kubeconfig is far smaller");
  }
  JsonBuilder builder(text);
  try {
    std::istringstream in{std::string(text)};
    YAML::Parser parser(in);
    while (parser.HandleNextDocument(builder)) {
    }
  } catch (const BuildError& e) {
    return at(e.mark, e.message);
  } catch (const YAML::Exception& e) {
    return at(e.mark, e.msg + " (the file is not valid YAML)");
  } catch (const std::exception& e) {
    return Status::config(std::string("cannot read the YAML: ") + e.what());
  }
  std::optional<json> root = builder.take();
  if (!root) return json(nullptr);
  return std::move(*root);
}

}  // namespace esk8s::kube
