"""The machine's crypto ceilings on the proxy core: `bssl-tool speed` (BoringSSL, what tlsfront uses)
and `openssl speed` (OpenSSL 3, what the peers use)."""
import json
import shutil
import statistics
import subprocess

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
