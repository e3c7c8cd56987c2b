// `dsserve tokenize`, `dsserve detokenize`, `dsserve chat-template` (filled in with the tokenizer).
#include "app/commands.h"

namespace ds::app {
void add_tokenizer_commands(CLI::App&, int&) {}
}  // namespace ds::app
