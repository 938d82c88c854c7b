# Version check for find_package(coarsenet <version> CONFIG): any 0.x release at or above the
# requested one is compatible (plugins depend on the op ABI, checked again when loaded).
# The version is defined once, in pyproject.toml: an installed package carries it in version.txt
# (written by the build); a source checkout (src/cmake/) reads pyproject.toml itself.
if(EXISTS "${CMAKE_CURRENT_LIST_DIR}/version.txt")
  file(STRINGS "${CMAKE_CURRENT_LIST_DIR}/version.txt" PACKAGE_VERSION LIMIT_COUNT 1)
else()
  file(STRINGS "${CMAKE_CURRENT_LIST_DIR}/../../pyproject.toml" _cn_version REGEX "^version = ")
  string(REGEX REPLACE "^version = \"([^\"]+)\".*" "\\1" PACKAGE_VERSION "${_cn_version}")
endif()
if(PACKAGE_FIND_VERSION VERSION_GREATER PACKAGE_VERSION)
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
else()
  set(PACKAGE_VERSION_COMPATIBLE TRUE)
  if(PACKAGE_FIND_VERSION STREQUAL PACKAGE_VERSION)
    set(PACKAGE_VERSION_EXACT TRUE)
  endif()
endif()
