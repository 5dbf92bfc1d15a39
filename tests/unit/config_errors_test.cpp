// Config loading, rejected configs: every rule that refuses a config, each error checked with its
// FILE:LINE:COLUMN and cause.
#include "config_fixture.hpp"

// ---- Rejected configs ------------------------------------------------------------------------

TEST_CASE_FIXTURE(ConfigFixture, "TOML syntax errors") {
    check_rejected({
        {"[server]\nworkers = = 4\n", "= 4",
         "TOML syntax error: Error while parsing value: could not determine value type"},
        {minimal + "[tls]\n", "[tls]",
         "TOML syntax error: Error while parsing table header: cannot redefine existing table 'tls'", 1},
    });
}

TEST_CASE_FIXTURE(ConfigFixture, "unknown keys, named with their table, first in file order") {
    check_rejected({
        {"bogus = 1\n" + minimal, "bogus", "unknown key 'bogus' in the top-level table"},
        {"[servers]\nworkers = 1\n" + minimal, "servers", "unknown key 'servers' in the top-level table"},
        {"[server]\nworkerz = 4\n" + minimal, "workerz", "unknown key 'workerz' in [server]"},
        {"[server]\nzzz = 1\naaa = 2\n" + minimal, "zzz", "unknown key 'zzz' in [server]"},
        {tls_cert + "certificate = \"x\"\n" + listener(), "certificate", "unknown key 'certificate' in [tls]"},
        {minimal + "[[local_name]]\nname = [\"a.example\"]\n", "name = [", "unknown key 'name' in [[local_name]]"},
        {minimal + "[[local]]\naddr = \"192.0.2.1\"\n", "addr", "unknown key 'addr' in [[local]]"},
        {tls_cert + listener("imaps", "\"127.0.0.1:993\"", "backends = \"x\"\n"), "backends",
         "unknown key 'backends' in [[listener]]"},
        {tls_cert + listener("imaps", "\"127.0.0.1:993\"", "[listener.tls]\nmin_versions = \"1.3\"\n"), "min_versions",
         "unknown key 'min_versions' in [listener.tls]"},
    });
}

TEST_CASE_FIXTURE(ConfigFixture, "wrong TOML types") {
    check_rejected({
        {"[server]\nworkers = \"4\"\n" + minimal, "\"4\"", "'workers' must be an integer"},
        {"[server]\nmax_connections = 1.5\n" + minimal, "1.5", "'max_connections' must be an integer"},
        {"[server]\nidle_timeout = 60\n" + minimal, "60", "'idle_timeout' must be a duration string such as \"10s\""},
        {"[server]\nuser = false\n" + minimal, "false", "'user' must be a string"},
        {"server = 1\n" + minimal, "1", "'server' must be a table ([server])"},
        {tls_cert + "session_tickets = \"yes\"\n" + listener(), "\"yes\"", "'session_tickets' must be true or false"},
        {tls_cert + "groups = \"X25519\"\n" + listener(), "\"X25519\"", "'groups' must be an array of strings"},
        {tls_cert + "groups = [\"X25519\", 1]\n" + listener(), "1]", "'groups' must be an array of strings"},
        {tls_cert + "min_version = 1.3\n" + listener(), "1.3",
         "'min_version' must be a string (one of \"1.2\", \"1.3\")"},
        {"[tls]\ncert = 7\n" + listener(), "7", "'cert' must be a string"},
        {tls_cert + "[listener]\nname = \"imaps\"\n", "[listener]",
         "'listener' must be an array of tables ([[listener]])"},
        {tls_cert + listener("imaps", "993"), "993\n", "'listen' must be a string or an array of strings"},
        {tls_cert + listener("imaps", "[\"127.0.0.1:993\", 994]"), "994",
         "'listen' must be a string or an array of strings"},
        {tls_cert + listener("imaps", "\"127.0.0.1:993\"", "tls = \"x\"\n"), "\"x\"",
         "'tls' must be a table ([listener.tls])"},
        {minimal + "[[local_name]]\nnames = \"a.example\"\ncert = \"@DIR@/cert.pem\"\n", "\"a.example\"",
         "'names' must be an array of strings"},
    });
}

TEST_CASE_FIXTURE(ConfigFixture, "[server] values out of range") {
    check_rejected({
        {"[server]\nworkers = 1025\n" + minimal, "1025", "'workers' must be between 0 and 1024"},
        {"[server]\nworkers = -1\n" + minimal, "-1", "'workers' must be between 0 and 1024"},
        {"[server]\nmax_connections = 0\n" + minimal, "0\n", "'max_connections' must be between 1 and 10000000"},
        {"[server]\nhandshake_timeout = \"10x\"\n" + minimal, "\"10x\"",
         "bad duration '10x' for 'handshake_timeout' (use e.g. 500ms, 10s, 35m, 1h)"},
        {"[server]\nconnect_timeout = \"5\"\n" + minimal, "\"5\"",
         "bad duration '5' for 'connect_timeout' (use e.g. 500ms, 10s, 35m, 1h)"},
        {"[server]\nidle_timeout = \"0s\"\n" + minimal, "\"0s\"", "'idle_timeout' must be greater than 0"},
        {"[server]\nlog_level = \"verbose\"\n" + minimal, "\"verbose\"",
         "'log_level' must be one of \"error\", \"warn\", \"info\", \"debug\" (got \"verbose\")"},
        {"[server]\nlog_format = \"xml\"\n" + minimal, "\"xml\"",
         "'log_format' must be one of \"text\", \"json\" (got \"xml\")"},
    });
}

TEST_CASE_FIXTURE(ConfigFixture, "user and group must exist") {
    auto config = load("[server]\nuser = \"nobody\"\ngroup = \"nogroup\"\n" + minimal);
    CHECK(config.server.user == "nobody");
    CHECK(config.server.group == "nogroup");
    check_rejected({
        {"[server]\nuser = \"no-such-user-x\"\n" + minimal, "\"no-such", "unknown user 'no-such-user-x'"},
        {"[server]\ngroup = \"no-such-group-x\"\n" + minimal, "\"no-such", "unknown group 'no-such-group-x'"},
    });
}

TEST_CASE_FIXTURE(ConfigFixture, "admin is a numeric TCP address") {
    CHECK(load("[server]\nadmin = \"127.0.0.1:9993\"\n" + minimal).server.admin->to_string() == "127.0.0.1:9993");
    CHECK_FALSE(load("[server]\nadmin = \"\"\n" + minimal).server.admin);
    CHECK_FALSE(load(minimal).server.admin);
    check_rejected({
        {"[server]\nadmin = \"localhost:9993\"\n" + minimal, "\"localhost",
         "bad 'admin': 'localhost:9993' is not a numeric IPv4/IPv6 address"},
        {"[server]\nadmin = \"unix:/run/x\"\n" + minimal, "\"unix",
         "bad 'admin': a unix socket is not allowed here: 'unix:/run/x'"},
    });
}

TEST_CASE_FIXTURE(ConfigFixture, "ticket_key_file and ocsp_response must be readable and belong to a cert") {
    check_rejected({
        {tls_cert + "ocsp_response = \"/nonexistent/ocsp.der\"\n" + listener(), "\"/nonexistent",
         "cannot read OCSP response file '/nonexistent/ocsp.der': No such file or directory"},
        {tls_cert + "alt_ocsp_response = \"@DIR@/alt.pem\"\n" + listener(), "\"@DIR@/alt.pem",
         "'alt_ocsp_response' is set but 'alt_cert' is not"},
        {tls_cert + "ticket_key_file = \"/nonexistent/ticket.keys\"\n" + listener(), "\"/nonexistent",
         "cannot read ticket key file '/nonexistent/ticket.keys': No such file or directory"},
    });
}

TEST_CASE_FIXTURE(ConfigFixture, "client certificates and strict SNI") {
    auto config = load(tls_cert + "client_ca = \"@DIR@/alt.pem\"\nclient_crl = \"@DIR@/alt.key\"\n"
                       "verify_client = \"optional\"\nstrict_sni = true\n" +
                       listener("imaps", "\"127.0.0.1:993\"", "[listener.tls]\nverify_client = \"required\"\n"));
    CHECK(config.tls.verify_client == VerifyClient::optional);
    CHECK(config.tls.strict_sni);
    CHECK(config.tls.client_ca.path == files.path("alt.pem"));
    CHECK(config.listeners[0].tls.verify_client == VerifyClient::required);
    CHECK(config.listeners[0].tls.client_crl.path == files.path("alt.key"));
    check_rejected({
        {tls_cert + "verify_client = \"required\"\n" + listener(), "\"required\"",
         "'verify_client' = \"required\" needs 'client_ca' (the CA bundle client certificates must chain to)"},
        {tls_cert + "verify_client = \"sometimes\"\n" + listener(), "\"sometimes\"",
         "'verify_client' must be one of \"off\", \"optional\", \"required\" (got \"sometimes\")"},
        {tls_cert + "client_crl = \"@DIR@/alt.pem\"\n" + listener(), "\"@DIR@/alt.pem\"",
         "'client_crl' is set but 'client_ca' is not"},
        {tls_cert + "client_ca = \"@DIR@/missing.pem\"\n" + listener(), "\"@DIR@/missing.pem\"",
         "cannot read client CA file '@DIR@/missing.pem': No such file or directory"},
        {tls_cert + "strict_sni = \"yes\"\n" + listener(), "\"yes\"", "'strict_sni' must be true or false"},
    });
}

TEST_CASE_FIXTURE(ConfigFixture, "PROXY protocol toward the backend and from balancers") {
    auto config = load(tls_cert + listener("imaps", "\"127.0.0.1:993\"",
                                           "proxy_protocol = \"v2\"\nproxy_protocol_tlvs = \"dovecot\"\n"
                                           "accept_proxy_from = [\"10.0.0.0/8\", \"2001:db8::/32\", \"127.0.0.1\"]\n") +
                       listener("pop3s", "\"127.0.0.1:995\"",
                                "proxy_protocol = \"v1\"\nproxy_protocol_tlvs = [\"ssl\", \"ssl_cn\"]\n"
                                "proxy_header_limit = 300\n") +
                       listener("smtps", "\"127.0.0.1:465\""));
    const auto& imaps = config.listeners[0];
    CHECK(imaps.proxy_protocol == ProxyProtocolVersion::v2);
    CHECK(imaps.proxy_header_limit == 1500);
    CHECK((imaps.proxy_tlvs & tlv_authority) != 0);
    REQUIRE(imaps.accept_proxy_from.size() == 3);
    CHECK(imaps.accept_proxy_from[0].to_string() == "10.0.0.0/8");
    CHECK(imaps.accept_proxy_from[2].prefix_length == 32);
    const auto& pop3s = config.listeners[1];
    CHECK(pop3s.proxy_protocol == ProxyProtocolVersion::v1);
    CHECK(pop3s.proxy_tlvs == (tlv_ssl | tlv_ssl_cn));
    CHECK(pop3s.proxy_header_limit == 300);
    const auto& smtps = config.listeners[2];
    CHECK(smtps.proxy_protocol == ProxyProtocolVersion::off);
    // an imap listener without proxy_protocol_tlvs: what Dovecot reads (config_starttls_test.cpp has the rest)
    CHECK(smtps.proxy_tlvs == (tlv_alpn | tlv_authority | tlv_unique_id | tlv_ssl | tlv_ssl_version));
    CHECK(smtps.proxy_header_limit == 1500);
    check_rejected({
        {tls_cert + listener("imaps", "\"127.0.0.1:993\"", "proxy_protocol = \"on\"\n"), "\"on\"",
         "'proxy_protocol' must be one of \"off\", \"v1\", \"v2\" (got \"on\")"},
        {tls_cert + listener("imaps", "\"127.0.0.1:993\"", "proxy_protocol_tlvs = \"exim\"\n"), "\"exim\"",
         "unknown 'proxy_protocol_tlvs' profile 'exim' (use minimal, dovecot, postfix, none, or a list of TLV names)"},
        {tls_cert + listener("imaps", "\"127.0.0.1:993\"", "proxy_protocol_tlvs = [\"ssl\", \"crc\"]\n"), "\"crc\"",
         "unknown TLV 'crc' (use alpn, authority, unique_id, ssl, ssl_version, ssl_cn, ssl_cipher, ssl_sig_alg, "
         "ssl_key_alg)"},
        {tls_cert + listener("imaps", "\"127.0.0.1:993\"", "proxy_header_limit = 8\n"), "8\n",
         "'proxy_header_limit' must be between 16 and 65535"},
        {tls_cert + listener("imaps", "\"127.0.0.1:993\"", "accept_proxy_from = [\"10.0.0.0/33\"]\n"),
         "\"10.0.0.0/33\"", "bad 'accept_proxy_from': prefix length over 32 in '10.0.0.0/33'"},
        {tls_cert + listener("imaps", "\"127.0.0.1:993\"", "accept_proxy_from = [\"balancer\"]\n"),
         "\"balancer\"",
         "bad 'accept_proxy_from': 'balancer' is not an address range such as 10.0.0.0/8 or 2001:db8::/32"},
    });
}

TEST_CASE_FIXTURE(ConfigFixture, "TLS settings values") {
    check_rejected({
        {tls_cert + "min_version = \"1.1\"\n" + listener(), "\"1.1\"",
         "'min_version' must be one of \"1.2\", \"1.3\" (got \"1.1\")"},
        {tls_cert + "groups = [\"X25519\", \"P-192\"]\n" + listener(), "\"P-192\"",
         "unknown group 'P-192' in 'groups' (use X25519, P-256, P-384, P-521)"},
        {tls_cert + "groups = [\"X25519\", \"x25519\"]\n" + listener(), "\"x25519\"",
         "duplicate group 'x25519' in 'groups'"},
        {tls_cert + "groups = []\n" + listener(), "[]", "'groups' must not be empty"},
    });
}

TEST_CASE_FIXTURE(ConfigFixture, "addresses") {
    std::string long_path(120, 'a');
    check_rejected({
        {tls_cert + listener("imaps", "\"foo:993\""), "\"foo",
         "bad 'listen': 'foo:993' is not a numeric IPv4/IPv6 address"},
        {tls_cert + listener("imaps", "[\"127.0.0.1:993\", \"127.0.0.1:70000\"]"), "\"127.0.0.1:70000\"",
         "bad 'listen': port out of range in '127.0.0.1:70000'"},
        {tls_cert + listener("imaps", "\"127.0.0.1\""), "\"127.0.0.1\"", "bad 'listen': missing port in '127.0.0.1'"},
        {tls_cert + listener("imaps", "\"unix:/run/x\""), "\"unix",
         "bad 'listen': a unix socket is not allowed here: 'unix:/run/x'"},
        {tls_cert + listener("imaps", "[]"), "[]", "'listen' must not be empty"},
        {listener_with("backend", "\"localhost:143\""), "\"localhost",
         "bad 'backend': 'localhost:143' is not a numeric IPv4/IPv6 address"},
        {listener_with("backend", "\"[::1]\""), "\"[::1]\"", "bad 'backend': missing port in '[::1]'"},
        {listener_with("backend", "\"unix:/" + long_path + "\""), "\"unix", "bad 'backend': unix socket path too long"},
        {minimal + "[[local]]\naddress = \"unix:/x\"\ncert = \"@DIR@/cert.pem\"\n", "\"unix",
         "bad 'address': a unix socket is not allowed here: 'unix:/x'"},
        {minimal + "[[local]]\naddress = \"192.0.2.1:0\"\ncert = \"@DIR@/cert.pem\"\n", "\"192",
         "bad 'address': port out of range in '192.0.2.1:0'"},
    });
}

TEST_CASE_FIXTURE(ConfigFixture, "names") {
    check_rejected({
        {tls_cert + listener("imap s"), "\"imap s\"",
         "listener name 'imap s' may only contain letters, digits, '_', '.' and '-'"},
        {tls_cert + listener(""), "\"\"", "'name' must not be empty"},
        {minimal + "[[local_name]]\nnames = [\"a.*.example.org\"]\ncert = \"@DIR@/cert.pem\"\n", "\"a.*",
         "bad name 'a.*.example.org' in 'names': '*' is only allowed as the whole first label, as in '*.example.org'"},
        {minimal + "[[local_name]]\nnames = [\"*.*.example.org\"]\ncert = \"@DIR@/cert.pem\"\n", "\"*.*",
         "bad name '*.*.example.org' in 'names': '*' is only allowed as the whole first label, as in '*.example.org'"},
        {minimal + "[[local_name]]\nnames = [\"mail_1.example.org\"]\ncert = \"@DIR@/cert.pem\"\n", "\"mail_1",
         "bad name 'mail_1.example.org' in 'names': not a valid host name"},
        {minimal + "[[local_name]]\nnames = [\"example.org.\"]\ncert = \"@DIR@/cert.pem\"\n", "\"example.org.",
         "bad name 'example.org.' in 'names': not a valid host name"},
        {minimal + "[[local_name]]\nnames = []\ncert = \"@DIR@/cert.pem\"\n", "[]", "'names' must not be empty"},
    });
}

TEST_CASE_FIXTURE(ConfigFixture, "duplicates name the first place") {
    std::string names = tls_cert + listener("imaps", "\"127.0.0.1:993\"") + listener("imaps", "\"127.0.0.1:994\"");
    std::string listens = tls_cert + listener("imaps", "\"127.0.0.1:993\"") +
                          listener("other", "[\"[::1]:993\", \"[::ffff:127.0.0.1]:993\"]");
    std::string one_listener = tls_cert + listener("imaps", "[\"127.0.0.1:993\", \"127.0.0.1:993\"]");
    std::string local_names =
        minimal + "[[local_name]]\nnames = [\"imap.example.org\"]\ncert = \"@DIR@/cert.pem\"\n" +
        "[[local_name]]\nnames = [\"pop3.example.org\", \"IMAP.example.org\"]\ncert = \"@DIR@/cert.pem\"\n";
    std::string same_block =
        minimal + "[[local_name]]\nnames = [\"a.example\", \"a.example\"]\ncert = \"@DIR@/cert.pem\"\n";
    std::string locals = minimal + "[[local]]\naddress = \"192.0.2.1\"\ncert = \"@DIR@/cert.pem\"\n" +
                         "[[local]]\naddress = \"[::ffff:192.0.2.1]\"\ncert = \"@DIR@/cert.pem\"\n";
    check_rejected({
        {names, "\"imaps\"", "duplicate listener name 'imaps' (first defined at " + place(names, "[[listener]]") + ")",
         1},
        {listens, "\"[::ffff",
         "duplicate listen address '[::ffff:127.0.0.1]:993' (first used by listener 'imaps' at " +
             place(listens, "\"127.0.0.1:993\"") + ")"},
        {one_listener, "\"127.0.0.1:993\"",
         "duplicate listen address '127.0.0.1:993' (first used by listener 'imaps' at " +
             place(one_listener, "\"127.0.0.1:993\"") + ")",
         1},
        {local_names, "\"IMAP",
         "duplicate local_name 'imap.example.org' (first defined at " + place(local_names, "\"imap.example") + ")"},
        {same_block, "\"a.example\"",
         "duplicate local_name 'a.example' (first defined at " + place(same_block, "\"a.example\"") + ")", 1},
        {locals, "\"[::ffff",
         "duplicate [[local]] address '[::ffff:192.0.2.1]' (first defined at " + place(locals, "[[local]]") + ")"},
    });
}

TEST_CASE_FIXTURE(ConfigFixture, "missing tables and keys") {
    check_rejected({
        {tls_cert, "[tls]", "no [[listener]] defined"},
        {"listener = []\n" + tls_cert, "listener", "no [[listener]] defined"},
        {listener_with("name", ""), "[[listener]]", "missing 'name' in [[listener]]"},
        {listener_with("listen", ""), "[[listener]]", "missing 'listen' in [[listener]]"},
        {listener_with("protocol", ""), "[[listener]]", "missing 'protocol' in [[listener]]"},
        {listener_with("backend", ""), "[[listener]]", "missing 'backend' in [[listener]]"},
        {listener_with("protocol", "\"http\""), "\"http\"",
         "'protocol' must be one of \"imap\", \"pop3\", \"smtp\" (got \"http\")"},
        {listener(), "[[listener]]", "listener 'imaps' has no certificate: set cert in [tls] or [listener.tls]"},
        {tls_cert + listener() + listener("pop3s", "\"127.0.0.1:995\"", "[listener.tls]\ncert = \"\"\n"),
         "[[listener]]", "listener 'pop3s' has no certificate: set cert in [tls] or [listener.tls]", 1},
        {minimal + "[[local_name]]\nnames = [\"a.example\"]\n", "[[local_name]]", "missing 'cert' in [[local_name]]"},
        {minimal + "[[local_name]]\ncert = \"@DIR@/cert.pem\"\n", "[[local_name]]",
         "missing 'names' in [[local_name]]"},
        {minimal + "[[local]]\naddress = \"192.0.2.1\"\n", "[[local]]", "missing 'cert' in [[local]]"},
        {minimal + "[[local]]\ncert = \"@DIR@/cert.pem\"\n", "[[local]]", "missing 'address' in [[local]]"},
    });
}

TEST_CASE_FIXTURE(ConfigFixture, "every named file must be readable at load time") {
    auto in_tls = [](std::string_view line) { return "[tls]\n" + std::string(line) + "\n" + listener(); };
    check_rejected({
        {in_tls("cert = \"@DIR@/nope.pem\""), "\"@DIR@",
         "cannot read certificate file '@DIR@/nope.pem': No such file or directory"},
        {in_tls("cert = \"@DIR@\""), "\"@DIR@", "cannot read certificate file '@DIR@': Is a directory"},
        {tls_cert + "key = \"@DIR@/nope.key\"\n" + listener(), "\"@DIR@/nope",
         "cannot read key file '@DIR@/nope.key': No such file or directory"},
        {tls_cert + "key_password_file = \"@DIR@/nope\"\n" + listener(), "\"@DIR@/nope",
         "cannot read key password file '@DIR@/nope': No such file or directory"},
        {tls_cert + "alt_cert = \"@DIR@/nope\"\n" + listener(), "\"@DIR@/nope",
         "cannot read alternate certificate file '@DIR@/nope': No such file or directory"},
        {tls_cert + "alt_cert = \"@DIR@/alt.pem\"\nalt_key = \"@DIR@/nope\"\n" + listener(), "\"@DIR@/nope",
         "cannot read alternate key file '@DIR@/nope': No such file or directory"},
        {tls_cert + listener("imaps", "\"127.0.0.1:993\"", "[listener.tls]\ncert = \"@DIR@/nope\"\n"), "\"@DIR@/nope",
         "cannot read certificate file '@DIR@/nope': No such file or directory"},
        {minimal + "[[local_name]]\nnames = [\"a.example\"]\ncert = \"@DIR@/cert.pem\"\nkey = \"@DIR@/nope\"\n",
         "\"@DIR@/nope", "cannot read key file '@DIR@/nope': No such file or directory"},
        {minimal + "[[local]]\naddress = \"192.0.2.1\"\ncert = \"@DIR@/nope\"\n", "\"@DIR@/nope",
         "cannot read certificate file '@DIR@/nope': No such file or directory"},
        {in_tls("key = \"@DIR@/key.pem\""), "\"@DIR@/key.pem\"", "'key' is set but 'cert' is not"},
        {tls_cert + "alt_key = \"@DIR@/alt.key\"\n" + listener(), "\"@DIR@/alt.key\"",
         "'alt_key' is set but 'alt_cert' is not"},
    });
}
