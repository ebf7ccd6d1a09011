// SPDX-License-Identifier: MIT
// The out-of-line members of Client and ClientHandle (include/pgrestify/client.hpp,
// client_handle.hpp): thin calls into the client's state (src/client_state.cpp).
#include "client_state.hpp"

#include <pgrestify/client.hpp>

#include <memory>
#include <utility>

namespace pgrestify {

Client::Client(ClientOptions options) : ClientHandle(std::make_shared<detail::ClientState>(std::move(options))) {}

HttpResponse Client::send(HttpRequest request) const {
  const auto& state = detail::HandleAccess::state(*this);
  return state->send(state->resolve(std::move(request)));
}

const ClientOptions& ClientHandle::options() const { return state_->options(); }

std::shared_ptr<const TableSchema> ClientHandle::describeTable(const std::string& table) const {
  return state_->tableSchema(table);
}

nlohmann::json ClientHandle::rpc(const std::string& function, const nlohmann::json& args) const {
  return state_->sendJson(state_->makeRpcRequest(function, args.dump()));
}

}  // namespace pgrestify
