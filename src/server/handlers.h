#pragma once
// HTTP handlers, one per endpoint. Called on httplib worker threads; they share ServerContext and
// talk to the engine only through submit()/abort() and RequestStreams.
#include <httplib.h>

#include "server/api_error.h"
#include "server/openai_protocol.h"
#include "server/server_context.h"

namespace ds::server {

void send_error(httplib::Response& res, const ApiError& e);
void send_json(httplib::Response& res, const std::string& body, int status = 200);

void handle_generation(ServerContext& ctx, Endpoint ep, const httplib::Request& req, httplib::Response& res);
void handle_models(ServerContext& ctx, const httplib::Request& req, httplib::Response& res);
void handle_health(ServerContext& ctx, const httplib::Request& req, httplib::Response& res);
void handle_version(ServerContext& ctx, const httplib::Request& req, httplib::Response& res);
void handle_tokenize(ServerContext& ctx, const httplib::Request& req, httplib::Response& res);
void handle_detokenize(ServerContext& ctx, const httplib::Request& req, httplib::Response& res);
void handle_metrics(ServerContext& ctx, const httplib::Request& req, httplib::Response& res);

}  // namespace ds::server
