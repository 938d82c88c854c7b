# find_package(coarsenet CONFIG) for user op libraries: the op SDK as the INTERFACE target
# coarsenet::sdk (header-only). Plugins never link _core; they reach the host only through the
# services table it hands to their entry point, so nothing else is needed to build one.
#
#   find_package(coarsenet CONFIG REQUIRED)   # CMAKE_PREFIX_PATH=$(python -c "import coarsenet;
#   add_library(my_ops MODULE my_ops.cc)      #   print(coarsenet.get_cmake_dir())")
#   target_link_libraries(my_ops PRIVATE coarsenet::sdk)
#
# This file sits in coarsenet/cmake/ of an installed wheel (and in src/cmake/ of a source
# checkout); the headers are in ../include in both layouts.
get_filename_component(_coarsenet_include "${CMAKE_CURRENT_LIST_DIR}/../include" ABSOLUTE)
if(NOT EXISTS "${_coarsenet_include}/coarsenet/op.h")
  set(coarsenet_FOUND FALSE)
  set(coarsenet_NOT_FOUND_MESSAGE "coarsenet SDK headers not found in ${_coarsenet_include}")
  return()
endif()

if(NOT TARGET coarsenet::sdk)
  add_library(coarsenet::sdk INTERFACE IMPORTED)
  set_target_properties(coarsenet::sdk PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${_coarsenet_include}"
    INTERFACE_COMPILE_FEATURES cxx_std_17
    # Hidden by default: a plugin exports only its entry point (CN_PLUGIN_MAIN marks it visible).
    INTERFACE_COMPILE_OPTIONS "-fvisibility=hidden;-fvisibility-inlines-hidden")
endif()

set(coarsenet_INCLUDE_DIR "${_coarsenet_include}")
unset(_coarsenet_include)
