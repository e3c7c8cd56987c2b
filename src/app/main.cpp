// dsserve: one binary, one subcommand per file in src/app/.
#include <CLI/CLI.hpp>

#include "app/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"dsserve: serving engine for the DeepSeek-R1 distilled models"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "dsserve 0.1.0");
  int exit_code = 0;  // set by the subcommand callback that runs
  ds::app::register_commands(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return exit_code;
}
