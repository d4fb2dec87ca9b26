# tests/resolver/extra.cmake: extra registrations for the resolver.
# - The integration tests (dnsmasq on a loopback port) live in test_resolver; with SLUICE_INTEGRATION off they are
#   skipped through an environment switch.
# - Under SLUICE_FUZZ, fuzz/fuzz_dns_reply.cpp becomes a libFuzzer target run by ctest (label fuzz), like the
#   targets in tests/fuzz/.
if(TARGET test_resolver AND NOT SLUICE_INTEGRATION)
  set_property(TEST resolver APPEND PROPERTY ENVIRONMENT "SLUICE_RESOLVER_NO_INTEGRATION=1")
endif()

if(SLUICE_FUZZ AND TARGET sluice_resolver)
  add_executable(fuzz_dns_reply ${CMAKE_CURRENT_LIST_DIR}/fuzz/fuzz_dns_reply.cpp)
  target_compile_options(fuzz_dns_reply PRIVATE -fsanitize=fuzzer)
  target_link_options(fuzz_dns_reply PRIVATE -fsanitize=fuzzer)
  target_link_libraries(fuzz_dns_reply PRIVATE sluice_resolver)
  add_test(NAME fuzz_dns_reply
    COMMAND ${CMAKE_COMMAND} -E env bash ${CMAKE_CURRENT_LIST_DIR}/../fuzz/run_fuzzer.sh
            $<TARGET_FILE:fuzz_dns_reply> ${CMAKE_CURRENT_LIST_DIR}/fuzz/corpus/fuzz_dns_reply ${SLUICE_FUZZ_SECONDS})
  set_tests_properties(fuzz_dns_reply PROPERTIES LABELS fuzz TIMEOUT 900)
endif()
