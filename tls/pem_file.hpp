// A PEM file named by the config, read whole through config_checks (so that after the privilege
// drop a reload reads root-only keys through the privileged helper) into a memory BIO.
#pragma once

#include <openssl/bio.h>

#include "config/config.hpp"

namespace tlsfront {

// Throws CertificateError "FILE:LINE:COLUMN: cannot read WHAT 'PATH': cause".
bssl::UniquePtr<BIO> read_pem_file(const ConfiguredPath& path, const char* what);

}  // namespace tlsfront
