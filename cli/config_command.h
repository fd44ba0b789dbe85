// `esk8s config keys` and `esk8s config check`: what the plugin accepts, and what it would do
// with this environment. The first thing to run when a node refuses its configuration.
#pragma once

#include <ostream>

#include "plugin/config.h"

namespace esk8s::cli {

// Prints every configuration key with accepted values and default. Returns 0.
int config_keys(std::ostream& out);

// Validates `input` as the plugin would and prints the effective configuration (or every
// problem). Returns 0 when valid, 1 when not.
int config_check(const plugin::ConfigInput& input, const plugin::HostFacts& facts,
                 std::ostream& out, std::ostream& err);

}  // namespace esk8s::cli
