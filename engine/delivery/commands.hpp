// commands.hpp: the delivery engine's sub-commands of the sluice binary.
//   sluice run --config FILE [--drain] [--progress]
//   sluice inject --config FILE --from ADDR --to ADDR [--to ADDR ...] [DSN options] FILE.eml
// argv[0] is the sub-command's name. Both return a process exit code and print errors on stderr.
#pragma once

namespace sluice::delivery {

int runCommand(int argc, char** argv);
int injectCommand(int argc, char** argv);

}  // namespace sluice::delivery
