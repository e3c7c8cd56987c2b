#include "server/api_error.h"

#include <nlohmann/json.hpp>

namespace ds::server {

std::string ApiError::body() const {
  nlohmann::json e = {{"message", message}, {"type", type}, {"param", nullptr}, {"code", nullptr}};
  if (!param.empty()) e["param"] = param;
  if (!code.empty()) e["code"] = code;
  return nlohmann::json{{"error", e}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

ApiError bad_request(std::string message, std::string param) {
  return {400, std::move(message), "invalid_request_error", std::move(param), ""};
}
ApiError unauthorized() {
  return {401, "Incorrect or missing API key: send 'Authorization: Bearer <key>'.", "authentication_error", "",
          "invalid_api_key"};
}
ApiError model_not_found(const std::string& model) {
  return {404, "The model '" + model + "' does not exist.", "not_found_error", "model", "model_not_found"};
}
ApiError payload_too_large(size_t limit) {
  return {413, "Request body larger than the limit of " + std::to_string(limit) + " bytes (--max-request-bytes).",
          "invalid_request_error", "", "request_too_large"};
}
ApiError overloaded(std::string message) { return {503, std::move(message), "service_unavailable_error", "", "overloaded"}; }
ApiError not_ready() { return {503, "The model is still loading.", "service_unavailable_error", "", "not_ready"}; }

ApiError from_status(const Status& s, std::string param) {
  switch (s.code()) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kUnsupported:
    case ErrorCode::kNotFound:
      return bad_request(s.message(), std::move(param));
    case ErrorCode::kResourceExhausted:
      return overloaded(s.message());
    default:
      return {500, s.message(), "internal_server_error", "", ""};
  }
}

}  // namespace ds::server
