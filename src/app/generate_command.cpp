// `dsserve generate` (filled in with the CPU backend).
#include "app/commands.h"

namespace ds::app {
void add_generate_command(CLI::App&, int&) {}
}  // namespace ds::app
