# tests/sink/extra.cmake: the sink's tests run the real command line too: a test-only executable calling
# sinkCommand() (the same entry the sluice binary dispatches to), and the interop process helpers (swaks,
# smtp-source, temp dirs) compiled into test_sink.
if(TARGET test_sink)
  add_executable(sink_main_for_tests ${CMAKE_CURRENT_SOURCE_DIR}/sink/main_for_tests.cc)
  target_link_libraries(sink_main_for_tests PRIVATE sluice_sink)
  target_sources(test_sink PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/interop/process.cpp
                                   ${CMAKE_CURRENT_SOURCE_DIR}/interop/peers.cpp)
  target_link_libraries(test_sink PRIVATE Threads::Threads)
  add_dependencies(test_sink sink_main_for_tests)
  target_compile_definitions(test_sink PRIVATE
    SLUICE_SINK_MAIN="$<TARGET_FILE:sink_main_for_tests>")
endif()
