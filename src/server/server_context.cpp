#include "server/server_context.h"

#include <algorithm>

namespace ds::server {

void InflightRegistry::add(const std::string& id) {
  std::lock_guard<std::mutex> l(mu_);
  ids_.insert(id);
}
void InflightRegistry::remove(const std::string& id) {
  std::lock_guard<std::mutex> l(mu_);
  ids_.erase(id);
}
size_t InflightRegistry::size() const {
  std::lock_guard<std::mutex> l(mu_);
  return ids_.size();
}
std::vector<std::string> InflightRegistry::ids() const {
  std::lock_guard<std::mutex> l(mu_);
  return {ids_.begin(), ids_.end()};
}

bool ServerContext::serves(const std::string& name) const {
  return std::find(cfg.served_model_names.begin(), cfg.served_model_names.end(), name) != cfg.served_model_names.end();
}

}  // namespace ds::server
