# bench/queue.cmake: the spool's scale driver (recovery time and RAM per queued message at 1M / 5M messages).
add_executable(bench_queue_scale ${CMAKE_CURRENT_SOURCE_DIR}/queue_scale.cpp)
target_link_libraries(bench_queue_scale PRIVATE sluice_queue)
