#include "app/commands.h"

namespace ds::app {
void register_commands(CLI::App& app, int& exit_code) {
  add_generate_command(app, exit_code);
  add_tokenizer_commands(app, exit_code);
  add_serve_command(app, exit_code);
  add_bench_command(app, exit_code);
  add_download_command(app, exit_code);
  add_check_model_command(app, exit_code);
}
}  // namespace ds::app
