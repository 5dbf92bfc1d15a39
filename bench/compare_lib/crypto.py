"""The machine's crypto ceilings on the proxy core: `bssl-tool speed` (BoringSSL, what tlsfront uses)
and `openssl speed` (OpenSSL 3, what the peers use)."""
import json
import os
import re
import shutil
import statistics
import subprocess

from . import procfs

BSSL_TESTS = [
    # (filter, description in bssl-tool's JSON, our key)
    ("RSA 2048", "RSA 2048 signing", "rsa2048_sign_per_s"),
    ("ECDSA P-256", "ECDSA P-256 signing", "ecdsa_p256_sign_per_s"),
    ("Curve25519", "Curve25519 base-point multiplication", "x25519_keygen_per_s"),
    ("Curve25519", "Curve25519 arbitrary point multiplication", "x25519_derive_per_s"),
    ("AES-128-GCM", "AES-128-GCM (16384 bytes) seal", "aes128gcm_16k_bytes_per_s"),
]


def find_bssl():
    """bssl-tool from Debian's android-boringssl package (the library package does not ship it)."""
    for name in ("bssl-tool", "bssl"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _bssl_run(tool, core, filt, timeout_s):
    r = subprocess.run(["taskset", "-c", str(core), tool, "speed", "-filter", filt, "-timeout",
                        str(timeout_s), "-chunks", "16384", "-json"],
                       capture_output=True, text=True, timeout=300)
    try:
        return json.loads(r.stdout)
    except json.JSONDecodeError:
        return []


def bssl_speed(core, reps, timeout_s):
    tool = find_bssl()
    if tool is None:
        return {"available": False, "note": "no bssl-tool: apt-get install android-boringssl"}
    samples = {key: [] for _, _, key in BSSL_TESTS}
    for _ in range(reps):
        cache = {}
        for filt, desc, key in BSSL_TESTS:
            if filt not in cache:
                cache[filt] = _bssl_run(tool, core, filt, timeout_s)
            for item in cache[filt]:
                if item.get("description") == desc and item.get("microseconds"):
                    rate = item["numCalls"] * 1e6 / item["microseconds"]
                    if "bytesPerCall" in item:
                        rate *= item["bytesPerCall"]
                    samples[key].append(rate)
    out = {"available": True, "tool": tool, "samples": samples,
           "command": f"taskset -c {core} {tool} speed -filter FILTER -timeout {timeout_s} -chunks 16384 -json"}
    out.update({k: statistics.median(v) for k, v in samples.items() if v})
    _derive(out)
    return out


def openssl_speed(core, reps, seconds):
    samples = {"rsa2048_sign_per_s": [], "ecdsa_p256_sign_per_s": [], "x25519_derive_per_s": [],
               "aes128gcm_16k_bytes_per_s": []}
    cmds = [["openssl", "speed", "-mr", "-seconds", str(seconds), "rsa2048", "ecdsap256", "ecdhx25519"],
            ["openssl", "speed", "-mr", "-seconds", str(seconds), "-bytes", "16384", "-evp", "aes-128-gcm"]]
    for _ in range(reps):
        for cmd in cmds:
            r = subprocess.run(["taskset", "-c", str(core)] + cmd, capture_output=True, text=True,
                               timeout=300)
            for line in r.stdout.splitlines():
                p = line.split(":")
                if line.startswith("+F2:") and p[2] == "2048":
                    samples["rsa2048_sign_per_s"].append(float(p[3]))
                elif line.startswith("+F4:") and p[2] == "256":
                    samples["ecdsa_p256_sign_per_s"].append(float(p[3]))
                elif line.startswith("+F5:") and p[2] == "253":
                    samples["x25519_derive_per_s"].append(float(p[3]))
                elif line.startswith("+F:") and "AES-128-GCM" in line:
                    samples["aes128gcm_16k_bytes_per_s"].append(float(p[3]))
    out = {"available": True, "samples": samples,
           "command": "; ".join(f"taskset -c {core} " + " ".join(c) for c in cmds)}
    out.update({k: statistics.median(v) for k, v in samples.items() if v})
    return out


def _derive(d):
    """A TLS 1.3 full handshake on the server costs one signature and one X25519 exchange
    (key generation + shared secret): the ceiling of handshakes per core-second from those alone."""
    if "x25519_keygen_per_s" in d and "x25519_derive_per_s" in d:
        d["x25519_exchange_per_s"] = 1 / (1 / d["x25519_keygen_per_s"] + 1 / d["x25519_derive_per_s"])
        for sig in ("rsa2048", "ecdsa_p256"):
            k = f"{sig}_sign_per_s"
            if k in d:
                d[f"handshake_ceiling_{sig}_per_s"] = 1 / (1 / d[k] + 1 / d["x25519_exchange_per_s"])


# ---- how the two libraries were built: evidence from the binaries ----------------------------------

INSTRUCTIONS = [
    # (key, mnemonics counted, what they are for)
    ("aesenc", ("aesenc", "vaesenc"), "AES-NI rounds (AES-GCM, incl. the AVX form)"),
    ("sha256rnds2", ("sha256rnds2",), "SHA-NI (SHA-256)"),
    ("mulx", ("mulx",), "BMI2 multiply (RSA/bignum, P-256 assembly)"),
    ("adcx", ("adcx",), "ADX add-with-carry chains (the same)"),
    ("adox", ("adox",), "ADX (the same)"),
    ("vpmadd52", ("vpmadd52luq", "vpmadd52huq"), "AVX-512 IFMA multiply (OpenSSL 3's RSA-2048 path)"),
]
BSSL_LIB = "/usr/lib/x86_64-linux-gnu/android/libcrypto.so.0"
OPENSSL_LIB = "/usr/lib/x86_64-linux-gnu/libcrypto.so.3"


def _instruction_counts(lib):
    """One `objdump -d` of `lib`, mnemonics counted here: {key: count}."""
    wanted = {m: key for key, ms, _ in INSTRUCTIONS for m in ms}
    counts = {key: 0 for key, _, _ in INSTRUCTIONS}
    p = subprocess.Popen(["objdump", "-d", "--no-show-raw-insn", lib], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    for line in p.stdout:
        parts = line.split("\t")
        if len(parts) >= 2:
            key = wanted.get(parts[1].split(" ", 1)[0].strip())
            if key:
                counts[key] += 1
    p.wait(timeout=120)
    return counts


def _rodata_bytes(lib):
    r = subprocess.run(["objdump", "-h", lib], capture_output=True, text=True, timeout=30)
    for line in r.stdout.splitlines():
        f = line.split()
        if len(f) > 2 and f[1] == ".rodata":
            return int(f[2], 16)
    return None


def _ec_sources(lib):
    """The EC source files the library names (their __FILE__ in error reporting): p256.c is the portable
    fiat code, p256-x86_64.c the nistz256 glue OPENSSL_SMALL leaves out."""
    with open(lib, "rb") as f:
        data = f.read()
    return sorted({m.decode() for m in re.findall(rb"src/crypto/(?:fipsmodule/ec|curve25519)/[\w.-]+\.c", data)})


def build_evidence():
    """Instruction counts, .rodata size, for BoringSSL's and OpenSSL's libcrypto; the EC sources in BoringSSL;
    whether this CPU has AVX-512 IFMA (which OpenSSL 3 uses for RSA-2048 and BoringSSL has no code for)."""
    if shutil.which("objdump") is None:
        return {"available": False, "note": "no objdump (Debian package binutils)"}
    out = {"available": True, "command": "objdump -d --no-show-raw-insn LIB (mnemonics counted in Python); "
                                         "objdump -h LIB (.rodata)", "libs": {},
           "cpu_avx512ifma": "avx512ifma" in procfs.cpuinfo_field("flags").split()}
    for name, lib in (("bssl", BSSL_LIB), ("openssl", OPENSSL_LIB)):
        if os.path.exists(lib):
            out["libs"][name] = {"path": lib, "instructions": _instruction_counts(lib), "rodata": _rodata_bytes(lib)}
    if "bssl" in out["libs"]:
        out["libs"]["bssl"]["ec_sources"] = _ec_sources(BSSL_LIB)
    return out


def build_markdown(c, fmt):
    """The report's explanation of why BoringSSL's ECDSA P-256 is slow here: static text on how Debian
    builds it, then the measured evidence (instruction counts, .rodata, EC sources, both sign rates)."""
    b, o, ev = c.get("bssl", {}), c.get("openssl", {}), c.get("build", {})
    L = ["### How Debian builds BoringSSL, and what it costs\n",
         "Debian's `android-libboringssl` (source package `android-platform-external-boringssl`) compiles "
         "libcrypto with `-DOPENSSL_SMALL` (its `debian/libcrypto.mk`: `CFLAGS += -D_XOPEN_SOURCE=700 "
         "-DBORINGSSL_ANDROID_SYSTEM -DBORINGSSL_IMPLEMENTATION -DBORINGSSL_SHARED_LIBRARY -DOPENSSL_SMALL ...`). "
         "In BoringSSL's source, `OPENSSL_SMALL` leaves out the x86-64 P-256 implementation "
         "(`p256-x86_64.c` under `!defined(OPENSSL_SMALL)`: the C side of the nistz256 method, which is what calls "
         "the assembly, and its ~150 KiB table of precomputed base-point multiples), so P-256 runs on the portable "
         "fiat C code (`p256.c`); the nistz256 assembly file (`p256-x86_64-asm-linux.S` in Debian's `sources.mk`) "
         "is still assembled and linked, but nothing calls it. And "
         "it replaces X25519's 30 KiB base-point table (`k25519Precomp`, 32 × 8 multiples) with a 960-byte one "
         "(15 points, 64 additions and 64 doublings per base-point multiplication). AES-GCM, SHA-256 and the "
         "RSA bignum assembly are not affected. The evidence in the binaries:\n"]
    libs = ev.get("libs", {})
    if libs:
        names = [("bssl", "BoringSSL `" + libs.get("bssl", {}).get("path", "") + "`"),
                 ("openssl", "OpenSSL `" + libs.get("openssl", {}).get("path", "") + "`")]
        names = [(k, n) for k, n in names if k in libs]
        L.append("| instructions in the library (`objdump -d`) | " + " | ".join(n for _, n in names) + " |")
        L.append("|---|" + "---:|" * len(names))
        for key, mnemonics, what in INSTRUCTIONS:
            L.append(f"| `{'`/`'.join(mnemonics)}`: {what} | " +
                     " | ".join(fmt(libs[k]["instructions"].get(key), 0) for k, _ in names) + " |")
        L.append("| `.rodata` bytes (`objdump -h`) | " + " | ".join(fmt(libs[k].get("rodata"), 0) for k, _ in names) + " |")
        L.append("")
        src = libs.get("bssl", {}).get("ec_sources")
        if src is not None:
            has_small = not any("p256-x86_64" in x for x in src)
            L.append("BoringSSL's whole `.rodata` is smaller than the nistz256 table alone, and the EC source files "
                     "the library names (the `__FILE__` of its error reports) are " +
                     ", ".join(f"`{os.path.basename(x)}`" for x in src) +
                     (": `p256.c` (fiat) and no `p256-x86_64.c`." if has_small else ".") +
                     " The mulx/adcx/adox counts therefore say little: they are the bignum (RSA) assembly, which "
                     "`OPENSSL_SMALL` keeps in use, plus the linked but unused nistz256 assembly.\n")
        L.append(f"Counted with `{ev.get('command')}`.\n")
    elif ev and not ev.get("available", True):
        L.append(f"Not measured: {ev.get('note')}.\n")
    bs, os_ = b.get("ecdsa_p256_sign_per_s"), o.get("ecdsa_p256_sign_per_s")
    if bs and os_:
        L.append(f"The cost, on the same core: ECDSA P-256 sign **{fmt(bs)}/s with BoringSSL** against "
                 f"**{fmt(os_)}/s with OpenSSL** (1/{os_ / bs:.1f}: every tlsfront ECDSA handshake pays it, the peers "
                 "do not)" + (f"; X25519 shared secret {fmt(b.get('x25519_derive_per_s'))}/s against "
                              f"{fmt(o.get('x25519_derive_per_s'))}/s (OpenSSL's is a whole key generation + shared "
                              "secret)" if b.get("x25519_derive_per_s") and o.get("x25519_derive_per_s") else "") +
                 ".\n")
    L += _rsa_markdown(b, o, ev, fmt)
    return L


def _rsa_markdown(b, o, ev, fmt):
    """RSA-2048, which OPENSSL_SMALL leaves alone: why OpenSSL still signs faster on this CPU."""
    bs, os_ = b.get("rsa2048_sign_per_s"), o.get("rsa2048_sign_per_s")
    if not (bs and os_):
        return []
    ifma = {k: v["instructions"].get("vpmadd52") for k, v in ev.get("libs", {}).items()}
    text = (f"RSA-2048 sign, which `OPENSSL_SMALL` leaves alone: **{fmt(bs)}/s with BoringSSL** against "
            f"**{fmt(os_)}/s with OpenSSL** (1/{os_ / bs:.1f}).")
    if ifma.get("openssl") and not ifma.get("bssl") and "cpu_avx512ifma" in ev:
        text += (f" OpenSSL 3 has an RSA-2048 path on AVX-512 IFMA (`vpmadd52luq`/`vpmadd52huq`: "
                 f"{fmt(ifma['openssl'], 0)} in its library, none in BoringSSL's), taken on CPUs with `avx512ifma`, "
                 f"which this one {'has' if ev['cpu_avx512ifma'] else 'does not have'} (`/proc/cpuinfo`); "
                 "BoringSSL's RSA runs on its mulx/adx Montgomery code.")
    return [text + "\n"]
