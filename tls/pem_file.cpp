// Whole-file read into a memory BIO.
#include "tls/pem_file.hpp"

#include "config/config_checks.hpp"
#include "tls/certificate_loader.hpp"

namespace tlsfront {

bssl::UniquePtr<BIO> read_pem_file(const ConfiguredPath& path, const char* what) {
    std::string cause;
    auto text = config_checks::read_text_file(path.path, cause);
    if (!text) throw CertificateError(path.place.describe() + ": cannot read " + what + " '" + path.path + "': " + cause);
    bssl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
    if (!bio || BIO_write(bio.get(), text->data(), static_cast<int>(text->size())) != static_cast<int>(text->size()))
        throw CertificateError(path.place.describe() + ": out of memory reading '" + path.path + "'");
    return bio;
}

}  // namespace tlsfront
