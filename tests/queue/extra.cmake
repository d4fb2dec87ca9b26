# tests/queue/extra.cmake: the queue's crash test. A child process appends and records outcomes, reporting each
# durable acknowledgement over a pipe; the parent kills it with SIGKILL at random moments and verifies the spool.
# Rounds default to 50 (SLUICE_CRASH_ROUNDS or --rounds to raise by hand); the seed is printed (--seed to replay).
add_executable(test_queue_crash ${CMAKE_CURRENT_SOURCE_DIR}/queue/crash/queue_crash.cpp)
target_link_libraries(test_queue_crash PRIVATE sluice_queue)
add_test(NAME queue_crash COMMAND test_queue_crash --rounds 50)
set_tests_properties(queue_crash PROPERTIES LABELS queue TIMEOUT 900)
