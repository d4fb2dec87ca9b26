// main_for_tests.cc: a test-only executable that runs `sluice sink` through sinkCommand(), so the sink's tests can
// run the real command line (flags, signals, stdout) before and independently of the sluice binary's dispatch.
#include "bench/sink/sink.hpp"

// argv[0] stands where the sluice binary passes "sink".
int main(int argc, char** argv) { return sinkCommand(argc, argv); }
