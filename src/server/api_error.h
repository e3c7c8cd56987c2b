#pragma once
// ApiError: an OpenAI-style error response {"error": {"message", "type", "param", "code"}} and the
// HTTP status it goes with. Every user-caused failure in the server becomes one of these.
#include <string>

#include "common/status.h"

namespace ds::server {

struct ApiError {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;  // "" -> null
  std::string code;   // "" -> null

  std::string body() const;  // the JSON text
};

ApiError bad_request(std::string message, std::string param = "");
ApiError unauthorized();
ApiError model_not_found(const std::string& model);
ApiError payload_too_large(size_t limit);
ApiError overloaded(std::string message);  // 503, sent with Retry-After
ApiError not_ready();                      // 503 while the model loads
// A Status from the engine / tokenizer / template: invalid input -> 400, else 500.
ApiError from_status(const Status& s, std::string param = "");

}  // namespace ds::server
