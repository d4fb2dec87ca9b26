# tests/engine/extra.cmake: the delivery engine's integration tests. test_engine is built from every
# tests/engine/*.cpp (the shared harness, tests against real receivers, scripted-server scenarios) plus the interop
# helpers that start private Postfix, smtp-sink and aiosmtpd peers on loopback. The tests also run the `sluice`
# binary (found through SLUICE_BINARY_DIR), so it is built first.
if(SLUICE_INTEGRATION AND TARGET sluice_delivery)
  file(GLOB sluice_engine_test_srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/engine/*.cpp)
  add_executable(test_engine ${sluice_engine_test_srcs}
                             ${CMAKE_CURRENT_SOURCE_DIR}/interop/peers.cpp
                             ${CMAKE_CURRENT_SOURCE_DIR}/interop/process.cpp)
  target_include_directories(test_engine PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(test_engine PRIVATE sluice_delivery sluice_doctest_main Threads::Threads)
  target_link_libraries(test_engine PRIVATE sluice_sink)
  if(TARGET sluice)
    add_dependencies(test_engine sluice)
  endif()
  add_test(NAME engine COMMAND test_engine)
  set_tests_properties(engine PROPERTIES LABELS "engine" TIMEOUT 900
    ENVIRONMENT "SLUICE_SOURCE_DIR=${PROJECT_SOURCE_DIR};SLUICE_BINARY_DIR=${PROJECT_BINARY_DIR}")
endif()
