// Dropping root: after the listening sockets are bound and every key is loaded, the process
// becomes [server] user/group for good, so a compromise of the data path cannot read keys or
// bind other ports.
#pragma once

#include <stdexcept>
#include <string>

namespace tlsfront {

struct PrivilegeError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// No-op when both are empty. Throws PrivilegeError when a step fails or root could be regained.
void drop_privileges(const std::string& user, const std::string& group);

}  // namespace tlsfront
