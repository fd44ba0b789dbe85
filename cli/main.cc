// esk8s: the operator's command-line tool.
#include <unistd.h>

#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "cli/cert_command.h"
#include "cli/config_command.h"
#include "cli/discover_command.h"
#include "cli/doctor_command.h"

namespace {

const char* kUsageHead =
    "usage: esk8s <command>\n"
    "\n"
    "commands:\n"
    "  config keys    list every ESK8S_* configuration key, what it accepts and its default\n"
    "  config check   validate the ESK8S_* environment as the plugin would and print the\n"
    "                 effective configuration; exit 1 listing every problem otherwise\n"
    "  discover [--service S] [--namespace NS]... [--kubeconfig FILE] [--json]\n"
    "                 what the plugin would see from here: API server, user, RBAC\n"
    "                 self-check and peers; exit 1 when it reports a problem\n";
const char* kUsageTail =
    "  version        print the esk8s version\n"
    "  help           this text\n";

std::string usage() {
  return std::string(kUsageHead) + esk8s::cli::kDoctorUsage + esk8s::cli::kCertUsage + kUsageTail;
}

}  // namespace

int main(int argc, char** argv) {
  std::string cmd = argc > 1 ? argv[1] : "help";
  std::string sub = argc > 2 ? argv[2] : "";
  if (cmd == "help" || cmd == "--help" || cmd == "-h") {
    std::cout << usage();
    return 0;
  }
  if (cmd == "version" || cmd == "--version") {
    std::cout << "esk8s " << ESK8S_VERSION << "\n";
    return 0;
  }
  if (cmd == "config" && sub == "keys" && argc == 3) return esk8s::cli::config_keys(std::cout);
  if (cmd == "config" && sub == "check" && argc == 3) {
    return esk8s::cli::config_check(esk8s::plugin::environment_config(),
                                    esk8s::plugin::HostFacts::from_system(), std::cout, std::cerr);
  }
  if (cmd == "discover") {
    esk8s::cli::DiscoverOptions o;
    for (int i = 2; i < argc; ++i) {
      std::string a = argv[i];
      const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
      if (a == "--json") {
        o.json = true;
      } else if ((a == "--service" || a == "--namespace" || a == "--kubeconfig") && v) {
        (a == "--service"      ? o.service
         : a == "--kubeconfig" ? o.kubeconfig
                               : o.namespaces.emplace_back()) = v;
        ++i;
      } else {
        std::cerr << "esk8s discover: unknown or incomplete argument \"" << a << "\"\n\n"
                  << usage();
        return 2;
      }
    }
    return esk8s::cli::discover(esk8s::plugin::environment_config(), o, std::cout, std::cerr);
  }
  if (cmd == "doctor") {
    std::vector<std::string> args(argv + 2, argv + argc);
    if (args.size() == 1 && (args[0] == "--help" || args[0] == "-h" || args[0] == "help")) {
      std::cout << "usage:\n" << esk8s::cli::kDoctorUsage;
      return 0;
    }
    auto o = esk8s::cli::parse_doctor_args(args);
    if (!o) {
      std::cerr << "esk8s doctor: " << o.status().message() << "\n\nusage:\n"
                << esk8s::cli::kDoctorUsage;
      return 2;
    }
    o->color = isatty(STDOUT_FILENO) == 1;
    return esk8s::cli::doctor_command(o.value(), std::cout, std::cerr);
  }
  if (cmd == "cert") {
    std::vector<std::string> args(argv + 2, argv + argc);
    return esk8s::cli::cert_command(args, esk8s::cli::CertContext{}, std::cout, std::cerr);
  }
  std::cerr << "esk8s: unknown command \"";
  for (int i = 1; i < argc; ++i) std::cerr << (i > 1 ? " " : "") << argv[i];
  std::cerr << "\"\n\n" << usage();
  return 2;
}
