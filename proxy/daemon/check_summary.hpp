// The normalised summary `tlsfront --check` prints: listeners, and which certificate serves
// which names.
#pragma once

#include <ostream>

#include "proxy/daemon/runtime.hpp"

namespace tlsfront {

void print_check_summary(const PreparedConfig& prepared, std::ostream& out);

}  // namespace tlsfront
