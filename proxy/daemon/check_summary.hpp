// The normalised summary `tlsfront --check` prints: listeners, and which certificate serves
// which names.
#pragma once

#include <ostream>

#include "proxy/session/config_snapshot.hpp"

namespace tlsfront {

void print_check_summary(const ConfigSnapshot& prepared, std::ostream& out);

}  // namespace tlsfront
