// SPDX-License-Identifier: MIT
// The whole public API of pgrestify.
#pragma once

#include <pgrestify/bulk_writer.hpp>
#include <pgrestify/client.hpp>
#include <pgrestify/client_handle.hpp>
#include <pgrestify/client_options.hpp>
#include <pgrestify/error.hpp>
#include <pgrestify/filter.hpp>
#include <pgrestify/options.hpp>
#include <pgrestify/query.hpp>
#include <pgrestify/raw_json.hpp>
#include <pgrestify/repository.hpp>
#include <pgrestify/result.hpp>
#include <pgrestify/row.hpp>
#include <pgrestify/transport.hpp>
#include <pgrestify/version.hpp>
