# tests/resolver/extra.cmake: the resolver's integration tests (dnsmasq on a loopback port) live in test_resolver;
# with SLUICE_INTEGRATION off they are skipped through an environment switch.
if(TARGET test_resolver AND NOT SLUICE_INTEGRATION)
  set_property(TEST resolver APPEND PROPERTY ENVIRONMENT "SLUICE_RESOLVER_NO_INTEGRATION=1")
endif()
