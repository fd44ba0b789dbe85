#include "tests/kubesim/selector.h"

#include <cctype>

namespace kubesim {

namespace {

bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
}

// [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?, at most 63 characters.
bool is_qualified_name_part(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  if (!std::isalnum(static_cast<unsigned char>(s.front())) ||
      !std::isalnum(static_cast<unsigned char>(s.back()))) {
    return false;
  }
  for (char c : s) {
    if (!is_name_char(c)) return false;
  }
  return true;
}

bool is_dns_subdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view label = s.substr(start, dot == s.npos ? s.npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return false;
    for (char c : label) {
      if (!(std::islower(static_cast<unsigned char>(c)) ||
            std::isdigit(static_cast<unsigned char>(c)) || c == '-')) {
        return false;
      }
    }
    if (dot == s.npos) return true;
    start = dot + 1;
  }
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Splits on commas that are not inside parentheses.
std::vector<std::string_view> split_top_level(std::string_view text) {
  std::vector<std::string_view> parts;
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '(') ++depth;
    if (text[i] == ')') --depth;
    if (text[i] == ',' && depth == 0) {
      parts.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  parts.push_back(text.substr(start));
  return parts;
}

std::string label_string(const nlohmann::json& labels, const std::string& key, bool& present) {
  present = false;
  if (!labels.is_object()) return "";
  auto it = labels.find(key);
  if (it == labels.end()) return "";
  present = true;
  return it->is_string() ? it->get<std::string>() : it->dump();
}

esk8s::Status bad(std::string_view text, std::string_view why) {
  return esk8s::Status::invalid_argument("unable to parse requirement \"" + std::string(text) +
                                         "\": " + std::string(why));
}

}  // namespace

bool is_valid_label_key(std::string_view key) {
  size_t slash = key.find('/');
  if (slash == key.npos) return is_qualified_name_part(key);
  return is_dns_subdomain(key.substr(0, slash)) && is_qualified_name_part(key.substr(slash + 1));
}

bool is_valid_label_value(std::string_view value) {
  return value.empty() || is_qualified_name_part(value);
}

esk8s::Result<LabelSelector> LabelSelector::parse(std::string_view text) {
  LabelSelector sel;
  if (trim(text).empty()) return sel;
  for (std::string_view raw : split_top_level(text)) {
    std::string_view part = trim(raw);
    if (part.empty()) return bad(text, "empty requirement");
    LabelRequirement req;
    if (part.front() == '!') {
      req.op = LabelRequirement::Op::kDoesNotExist;
      req.key = std::string(trim(part.substr(1)));
    } else if (size_t pos = part.find("!="); pos != part.npos) {
      req.op = LabelRequirement::Op::kNotEquals;
      req.key = std::string(trim(part.substr(0, pos)));
      req.values = {std::string(trim(part.substr(pos + 2)))};
    } else if (size_t pos2 = part.find("=="); pos2 != part.npos) {
      req.key = std::string(trim(part.substr(0, pos2)));
      req.values = {std::string(trim(part.substr(pos2 + 2)))};
    } else if (size_t pos3 = part.find('='); pos3 != part.npos) {
      req.key = std::string(trim(part.substr(0, pos3)));
      req.values = {std::string(trim(part.substr(pos3 + 1)))};
    } else if (size_t paren = part.find('('); paren != part.npos) {
      std::string_view head = trim(part.substr(0, paren));
      size_t space = head.find_last_of(" \t");
      if (space == head.npos) return bad(part, "expected `key in (...)` or `key notin (...)`");
      std::string_view op = head.substr(space + 1);
      req.key = std::string(trim(head.substr(0, space)));
      if (op == "in") {
        req.op = LabelRequirement::Op::kIn;
      } else if (op == "notin") {
        req.op = LabelRequirement::Op::kNotIn;
      } else {
        return bad(part, "unknown set operator \"" + std::string(op) + "\"");
      }
      if (part.back() != ')') return bad(part, "missing ')'");
      std::string_view inner = part.substr(paren + 1, part.size() - paren - 2);
      if (trim(inner).empty()) return bad(part, "a set needs at least one value");
      for (std::string_view v : split_top_level(inner)) {
        std::string value(trim(v));
        if (!is_valid_label_value(value)) return bad(part, "invalid value \"" + value + "\"");
        req.values.push_back(value);
      }
      if (req.values.empty()) return bad(part, "a set needs at least one value");
    } else if (part.find_first_of("<>") != part.npos) {
      return bad(part, "the gt/lt operators are not supported by kubesim");
    } else {
      req.op = LabelRequirement::Op::kExists;
      req.key = std::string(part);
    }
    if (!is_valid_label_key(req.key)) return bad(part, "invalid label key \"" + req.key + "\"");
    for (const auto& v : req.values) {
      if (!is_valid_label_value(v)) return bad(part, "invalid label value \"" + v + "\"");
    }
    sel.requirements_.push_back(std::move(req));
  }
  return sel;
}

esk8s::Result<LabelSelector> LabelSelector::from_label_selector(const nlohmann::json& selector) {
  LabelSelector sel;
  if (selector.is_null()) return sel;
  if (!selector.is_object()) return esk8s::Status::invalid_argument("selector must be an object");
  if (auto ml = selector.find("matchLabels"); ml != selector.end() && !ml->is_null()) {
    if (!ml->is_object())
      return esk8s::Status::invalid_argument("selector.matchLabels must be an object");
    for (auto& [k, v] : ml->items()) {
      if (!v.is_string())
        return esk8s::Status::invalid_argument("selector.matchLabels." + k + " must be a string");
      sel.requirements_.push_back({k, LabelRequirement::Op::kEquals, {v.get<std::string>()}});
    }
  }
  if (auto me = selector.find("matchExpressions"); me != selector.end() && !me->is_null()) {
    if (!me->is_array())
      return esk8s::Status::invalid_argument("selector.matchExpressions must be a list");
    for (const auto& e : *me) {
      if (!e.is_object() || !e.contains("key") || !e["key"].is_string() ||
          !e.contains("operator") || !e["operator"].is_string()) {
        return esk8s::Status::invalid_argument(
            "selector.matchExpressions entries need key and operator");
      }
      LabelRequirement req;
      req.key = e["key"].get<std::string>();
      std::string op = e["operator"].get<std::string>();
      if (op == "In")
        req.op = LabelRequirement::Op::kIn;
      else if (op == "NotIn")
        req.op = LabelRequirement::Op::kNotIn;
      else if (op == "Exists")
        req.op = LabelRequirement::Op::kExists;
      else if (op == "DoesNotExist")
        req.op = LabelRequirement::Op::kDoesNotExist;
      else
        return esk8s::Status::invalid_argument("\"" + op +
                                               "\" is not a valid label selector operator");
      if (auto vals = e.find("values"); vals != e.end() && vals->is_array()) {
        for (const auto& v : *vals) {
          if (v.is_string()) req.values.push_back(v.get<std::string>());
        }
      }
      bool set_op = req.op == LabelRequirement::Op::kIn || req.op == LabelRequirement::Op::kNotIn;
      if (set_op && req.values.empty()) {
        return esk8s::Status::invalid_argument(
            "values: must be specified when `operator` is 'In' or 'NotIn'");
      }
      if (!set_op && !req.values.empty()) {
        return esk8s::Status::invalid_argument(
            "values: may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
      }
      sel.requirements_.push_back(std::move(req));
    }
  }
  return sel;
}

LabelSelector LabelSelector::from_map(const nlohmann::json& map) {
  LabelSelector sel;
  if (!map.is_object()) return sel;
  for (auto& [k, v] : map.items()) {
    sel.requirements_.push_back(
        {k, LabelRequirement::Op::kEquals, {v.is_string() ? v.get<std::string>() : v.dump()}});
  }
  return sel;
}

bool LabelSelector::matches(const nlohmann::json& labels) const {
  for (const auto& r : requirements_) {
    bool present = false;
    std::string value = label_string(labels, r.key, present);
    auto in_values = [&] {
      for (const auto& v : r.values) {
        if (v == value) return true;
      }
      return false;
    };
    switch (r.op) {
      case LabelRequirement::Op::kEquals:
      case LabelRequirement::Op::kIn:
        if (!present || !in_values()) return false;
        break;
      case LabelRequirement::Op::kNotEquals:
      case LabelRequirement::Op::kNotIn:
        if (present && in_values()) return false;
        break;
      case LabelRequirement::Op::kExists:
        if (!present) return false;
        break;
      case LabelRequirement::Op::kDoesNotExist:
        if (present) return false;
        break;
    }
  }
  return true;
}

esk8s::Result<FieldSelector> FieldSelector::parse(std::string_view text) {
  FieldSelector sel;
  if (trim(text).empty()) return sel;
  for (std::string_view raw : split_top_level(text)) {
    std::string_view part = trim(raw);
    Term t;
    size_t pos;
    if ((pos = part.find("!=")) != part.npos) {
      t.equals = false;
      t.field = std::string(trim(part.substr(0, pos)));
      t.value = std::string(trim(part.substr(pos + 2)));
    } else if ((pos = part.find("==")) != part.npos) {
      t.field = std::string(trim(part.substr(0, pos)));
      t.value = std::string(trim(part.substr(pos + 2)));
    } else if ((pos = part.find('=')) != part.npos) {
      t.field = std::string(trim(part.substr(0, pos)));
      t.value = std::string(trim(part.substr(pos + 1)));
    } else {
      return esk8s::Status::invalid_argument("invalid selector: '" + std::string(text) +
                                             "'; can't understand '" + std::string(part) + "'");
    }
    if (t.field.empty()) {
      return esk8s::Status::invalid_argument("invalid selector: '" + std::string(text) +
                                             "'; empty field");
    }
    sel.terms_.push_back(std::move(t));
  }
  return sel;
}

bool FieldSelector::matches(const nlohmann::json& object) const {
  for (const auto& t : terms_) {
    const nlohmann::json* cur = &object;
    size_t start = 0;
    std::string value;
    bool found = true;
    while (true) {
      size_t dot = t.field.find('.', start);
      std::string part =
          t.field.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      if (!cur->is_object() || !cur->contains(part)) {
        found = false;
        break;
      }
      cur = &(*cur)[part];
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    if (found && !cur->is_null()) value = cur->is_string() ? cur->get<std::string>() : cur->dump();
    if ((value == t.value) != t.equals) return false;
  }
  return true;
}

}  // namespace kubesim
