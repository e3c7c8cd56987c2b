#pragma once
// Subcommand registry: each src/app/<name>.cpp adds its CLI11 subcommand; its callback stores the
// process exit code in `exit_code` (owned by main).
#include <CLI/CLI.hpp>

namespace ds::app {
void register_commands(CLI::App& app, int& exit_code);

void add_generate_command(CLI::App& app, int& exit_code);
void add_tokenizer_commands(CLI::App& app, int& exit_code);  // tokenize, detokenize, chat-template
void add_serve_command(CLI::App& app, int& exit_code);       // serve_command.cpp
void add_download_command(CLI::App& app, int& exit_code);     // download_command.cpp
void add_check_model_command(CLI::App& app, int& exit_code);  // check_model_command.cpp
void add_bench_command(CLI::App& app, int& exit_code);      // bench_command.cpp: serve, users
}  // namespace ds::app
