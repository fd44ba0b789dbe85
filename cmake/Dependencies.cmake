# Finds the Debian packages esk8s builds against. Each failure names the package to install
# (scripts/setup installs all of them).
find_package(PkgConfig)
if(NOT PkgConfig_FOUND)
  message(FATAL_ERROR "pkg-config not found: install the Debian package 'pkg-config' (or run scripts/setup)")
endif()

pkg_check_modules(HTTPLIB QUIET IMPORTED_TARGET cpp-httplib)
if(NOT HTTPLIB_FOUND)
  message(FATAL_ERROR "cpp-httplib not found: install the Debian package 'libcpp-httplib-dev' (or run scripts/setup)")
endif()
if(NOT HTTPLIB_CFLAGS MATCHES "CPPHTTPLIB_OPENSSL_SUPPORT")
  message(FATAL_ERROR "cpp-httplib was built without OpenSSL; esk8s needs the Debian build of 'libcpp-httplib-dev'")
endif()

find_package(OpenSSL 3 QUIET)
if(NOT OpenSSL_FOUND)
  message(FATAL_ERROR "OpenSSL 3 not found: install the Debian package 'libssl-dev' (or run scripts/setup)")
endif()

find_package(nlohmann_json 3.10 QUIET CONFIG)
if(NOT nlohmann_json_FOUND)
  message(FATAL_ERROR "nlohmann/json not found: install the Debian package 'nlohmann-json3-dev' (or run scripts/setup)")
endif()

find_package(yaml-cpp 0.7 QUIET CONFIG)
if(NOT yaml-cpp_FOUND OR NOT TARGET yaml-cpp)
  message(FATAL_ERROR "yaml-cpp not found: install the Debian package 'libyaml-cpp-dev' (or run scripts/setup)")
endif()

find_package(Boost 1.74 QUIET CONFIG COMPONENTS headers)
if(NOT Boost_FOUND)
  find_package(Boost 1.74 QUIET)
endif()
if(NOT Boost_FOUND)
  message(FATAL_ERROR "Boost (Asio) not found: install the Debian package 'libboost-dev' (or run scripts/setup)")
endif()

find_package(Threads REQUIRED)

if(BUILD_TESTING OR NOT DEFINED BUILD_TESTING)
  find_package(doctest QUIET CONFIG)
  if(NOT doctest_FOUND)
    message(FATAL_ERROR "doctest not found: install the Debian package 'doctest-dev' (or run scripts/setup)")
  endif()
endif()
