// libFuzzer target: the OpenAI request parser of `dsserve serve` (src/server/openai_protocol) on
// arbitrary bodies. The first byte picks the endpoint (even: /v1/completions, odd:
// /v1/chat/completions); the rest is the request body. A body must become an OpenAiRequest or an
// ApiError with a 4xx status, never a crash, a sanitizer report or an exception. Accepted requests
// then go through what the handler does next: SamplingParams::validate (the engine's check) and
// the ResponseBuilder with one synthetic event per choice (echo, logprobs, reasoning split).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "server/openai_protocol.h"
#include "server/response_stream.h"

namespace {

// A tiny byte-level BPE tokenizer (with R1's think tags as added tokens) and a chat template, so
// text prompts and chat messages reach the tokenizer and the template.
constexpr const char* kTokenizer = R"({"version": "1.0", "added_tokens": [
  {"id": 9, "content": "<s>", "special": true, "normalized": false, "lstrip": false, "rstrip": false, "single_word": false},
  {"id": 10, "content": "</s>", "special": true, "normalized": false, "lstrip": false, "rstrip": false, "single_word": false},
  {"id": 11, "content": "<think>", "special": false, "normalized": false, "lstrip": false, "rstrip": false, "single_word": false},
  {"id": 12, "content": "</think>", "special": false, "normalized": false, "lstrip": false, "rstrip": false, "single_word": false}],
 "normalizer": null,
 "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": true},
 "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
   {"Sequence": {"id": "A", "type_id": 0}}], "pair": [], "special_tokens": {"<s>": {"id": "<s>", "ids": [9], "tokens": ["<s>"]}}},
 "decoder": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": true},
 "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": "", "end_of_word_suffix": "",
   "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
   "vocab": {"H": 0, "e": 1, "l": 2, "o": 3, "He": 4, "ll": 5, "Ġ": 6, "Ġw": 7, "x": 8, "w": 13},
   "merges": [["H", "e"], ["l", "l"], ["Ġ", "w"]]}})";

constexpr const char* kTemplate =
    "{{ bos_token }}{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant: <think>\n{% endif %}";

struct Fixture {
  std::unique_ptr<ds::Tokenizer> tokenizer;
  std::unique_ptr<ds::ChatTemplate> chat_template;
  ds::server::ServerConfig cfg;
  ds::server::ProtocolContext ctx;

  Fixture() {
    auto tok = ds::Tokenizer::from_json_text(kTokenizer, "", "fuzz/tokenizer.json");
    auto tmpl = ds::ChatTemplate::parse(kTemplate);
    if (!tok.ok() || !tmpl.ok()) {  // the harness itself is broken
      std::fprintf(stderr, "fuzz_openai_request: %s\n", (!tok.ok() ? tok.status() : tmpl.status()).message().c_str());
      std::abort();
    }
    tokenizer = std::move(*tok);
    chat_template = std::make_unique<ds::ChatTemplate>(std::move(*tmpl));
    cfg.served_model_names = {"m"};
    cfg.max_n = 8;  // keeps n x prompts (and so the builder's work) small
    ctx.tokenizer = tokenizer.get();
    ctx.chat_template = chat_template.get();
    ctx.max_model_len = 64;
    ctx.reasoning = true;
    ctx.cfg = &cfg;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture f;
  if (size == 0) return 0;
  const auto ep = (data[0] & 1) ? ds::server::Endpoint::kChat : ds::server::Endpoint::kCompletions;
  const std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  ds::server::OpenAiRequest req;
  if (auto err = ds::server::parse_openai_request(ep, body, f.ctx, req)) {
    if (err->status < 400 || err->status >= 500) std::abort();  // user input is never a 5xx
    (void)err->body();
    return 0;
  }
  if (req.prompts.empty() || req.params.n < 1) std::abort();
  if (!req.params.validate(f.tokenizer->vocab_size()).is_ok()) return 0;  // the engine would 400 it
  // What the handler does with an accepted request: one event per choice, then the bodies.
  for (bool stream : {false, true}) {
    req.stream = stream;
    ds::server::ResponseBuilder b(req, f.tokenizer.get(), "cmpl-fuzz", "m");
    std::string out = b.stream_start();
    for (size_t p = 0; p < req.prompts.size(); ++p) {
      for (int32_t i = 0; i < req.params.n; ++i) {
        ds::StreamEvent e;
        e.index = i;
        e.token_ids = {4, 12, 8};
        e.text = "He</think>x";
        if (req.logprobs)
          for (int32_t id : e.token_ids) e.logprobs.push_back({id, -0.5f, {{id, -0.5f}, {3, -1.5f}}});
        e.finish_reason = ds::FinishReason::kLength;
        e.done = i + 1 == req.params.n;
        e.usage = {int32_t(req.prompts[p].size()), 3 * req.params.n, 0};
        out += b.on_event(int32_t(p), e);
      }
    }
    out += b.stream_end();
    (void)b.final_body().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  return 0;
}
