# What `cmake --install` puts under the prefix, and the .deb CPack builds from the same rules
# (docs/ARCHITECTURE.md, "Packaging"):
#   include/esk8s/plugin.h                      the C ABI (plugin/CMakeLists.txt)
#   lib/libesk8s.so.MAJOR.MINOR, .so.MAJOR, .so the plugin, SONAME by ABI major (plugin/)
#   lib/pkgconfig/esk8s.pc                      how a database's build finds both
#   bin/esk8s, bin/esk8s-node                   the CLI and the reference host (cli/, examples/node/)
#   share/esk8s/examples/c-host/esk8s_host.c    a C host that builds against the above only
#   share/esk8s/examples/kubernetes, rbac        the kustomize base and overlays, the RBAC files,
#                                               laid out as in the source tree (the base's
#                                               ../../../rbac still resolves)
#   share/esk8s/charts/esk8s, share/esk8s/monitoring   the Helm chart and the Prometheus rules
#   share/doc/esk8s                             README and the operations guide

# The library's ABI version, for the .pc file (set from plugin.h in plugin/CMakeLists.txt).
get_target_property(ESK8S_ABI_MAJOR esk8s SOVERSION)
get_target_property(esk8s_library_version esk8s VERSION)
string(REGEX REPLACE "^[0-9]+\\.([0-9]+)$" "\\1" ESK8S_ABI_MINOR "${esk8s_library_version}")

if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}" OR IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  message(FATAL_ERROR "CMAKE_INSTALL_LIBDIR (${CMAKE_INSTALL_LIBDIR}) and CMAKE_INSTALL_INCLUDEDIR "
                      "(${CMAKE_INSTALL_INCLUDEDIR}) must be relative to the prefix: esk8s.pc "
                      "locates them from its own directory")
endif()
file(RELATIVE_PATH ESK8S_PC_TO_PREFIX "/p/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/p")
string(REGEX REPLACE "/$" "" ESK8S_PC_TO_PREFIX "${ESK8S_PC_TO_PREFIX}")
configure_file(${CMAKE_CURRENT_LIST_DIR}/esk8s.pc.in ${PROJECT_BINARY_DIR}/esk8s.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/esk8s.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

set(esk8s_share ${CMAKE_INSTALL_DATADIR}/esk8s)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/examples/kubernetes/
        DESTINATION ${esk8s_share}/examples/kubernetes)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/rbac/ DESTINATION ${esk8s_share}/rbac)
install(FILES ${PROJECT_SOURCE_DIR}/examples/c-host/esk8s_host.c
        DESTINATION ${esk8s_share}/examples/c-host)
# The chart and the rules are installed whenever they are in the tree at install time; OPTIONAL
# (not an if(EXISTS) at configure time) so a build configured before they existed installs them
# too, and a tree without them still installs.
# USE_SOURCE_PERMISSIONS keeps scripts among them executable.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/charts/esk8s DESTINATION ${esk8s_share}/charts
        USE_SOURCE_PERMISSIONS OPTIONAL)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/monitoring/ DESTINATION ${esk8s_share}/monitoring
        USE_SOURCE_PERMISSIONS OPTIONAL)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/docs/OPERATIONS.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})

# CPack: `cpack -G DEB` in a build directory makes esk8s_VERSION_ARCH.deb with everything above
# under /usr.
# cpack (and `make install`) install what was built, like `cmake --install`, instead of building
# every target first: in a tree where only some targets were built that build takes many minutes
# (the tests, fuzzers and benchmarks), and the package needs three of them. Build, then package.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)
set(ESK8S_PACKAGE_MAINTAINER "esk8s maintainers <maintainers@esk8s.invalid>"
    CACHE STRING "The Maintainer field of the .deb (name <email>)")
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME esk8s)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${ESK8S_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Kubernetes-native discovery and membership for event-store clusters")
# Lines of at most 80 characters, as Debian's control files want them.
string(JOIN "\n" CPACK_PACKAGE_DESCRIPTION
  "libesk8s.so is a plugin (C ABI) that lets an event-store database cluster run"
  "on Kubernetes: discovery through EndpointSlices, SWIM gossip over mutual TLS,"
  "health probes, /gossip and /metrics. The package holds the library, its header"
  "and pkg-config file, the esk8s CLI, the esk8s-node reference host, and the"
  "Kubernetes manifests, RBAC files, Helm chart and Prometheus rules under"
  "/usr/share/esk8s.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# Debug information stays in the build tree: unstripped, the library alone is over 100 MB.
set(CPACK_STRIP_FILES TRUE)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# The runtime libraries the binaries need: computed by dpkg-shlibdeps (dpkg-dev) when it and
# file(1) are there, else the Debian 12 packages they come from, listed.
find_program(ESK8S_DPKG_SHLIBDEPS dpkg-shlibdeps)
find_program(ESK8S_FILE_PROGRAM file)
if(ESK8S_DPKG_SHLIBDEPS AND ESK8S_FILE_PROGRAM)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
else()
  set(CPACK_DEBIAN_PACKAGE_DEPENDS
      "libc6 (>= 2.34), libstdc++6 (>= 12), libgcc-s1, libssl3 (>= 3.0.0), libyaml-cpp0.7, libcpp-httplib0.11")
endif()
include(CPack)
