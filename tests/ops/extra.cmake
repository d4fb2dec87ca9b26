# tests/ops/extra.cmake: extra registrations for engine/ops.
# - Under SLUICE_FUZZ, tests/fuzz/fuzz_config.cpp becomes fuzz_config like every tests/fuzz target, but it needs
#   sluice_ops, which the shared fuzz loop does not link. That loop runs after this file is included, so the link
#   is added by a call deferred to the end of the tests/ directory.
function(sluice_ops_link_fuzz_config)
  if(TARGET fuzz_config AND TARGET sluice_ops)
    target_link_libraries(fuzz_config PRIVATE sluice_ops)
  endif()
endfunction()
cmake_language(DEFER CALL sluice_ops_link_fuzz_config)
