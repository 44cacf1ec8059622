#!/usr/bin/python3
"""Computes tests/data/acme/expected.json from the fixed keys and
certificates here with openssl(1) and Python only, independently of kiln.
The files were made with:
  openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt > account-p256.key
  openssl genrsa -out rsa2048.key 2048
  a CA (ca.pem) and two leaves signed by it, serials 0x8badf00d1234 and
  0x1234, SAN example.test and www.example.test, with an AKI."""
import base64, hashlib, hmac, json, re, subprocess


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def openssl(*args, data=None):
    return subprocess.run(["openssl", *args], input=data, capture_output=True, check=True).stdout


def account_jwk():
    t = openssl("ec", "-in", "account-p256.key", "-noout", "-text").decode()
    pub = bytes.fromhex("".join(re.search(r"pub:\n((?:\s+[0-9a-f:]+\n)+)", t).group(1).split()).replace(":", ""))
    return {"crv": "P-256", "kty": "EC", "x": b64(pub[1:33]), "y": b64(pub[33:])}


def ari(pem):
    t = openssl("x509", "-in", pem, "-noout", "-text").decode()
    aki = re.search(r"Authority Key Identifier: *\n\s+(?:keyid:)?([0-9A-F:]+)", t).group(1)
    ser = openssl("x509", "-in", pem, "-noout", "-serial").decode().strip().split("=")[1]
    sb = bytes.fromhex(ser if len(ser) % 2 == 0 else "0" + ser)
    if sb[0] & 0x80:
        sb = b"\0" + sb
    return b64(bytes.fromhex(aki.replace(":", ""))) + "." + b64(sb)


jwk = account_jwk()
canon = json.dumps(jwk, sort_keys=True, separators=(",", ":"))
sig_in = "eyJhbGciOiJSUzI1NiJ9.e30"
hkey = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"
prot = json.dumps({"alg": "HS256", "kid": "kid-1", "url": "https://ca.test/new-account"}, separators=(",", ":"))
inp = b64(prot.encode()) + "." + b64(canon.encode())
mac = hmac.new(base64.urlsafe_b64decode(hkey + "=" * (-len(hkey) % 4)), inp.encode(), hashlib.sha256).digest()
out = {"account_jwk": jwk, "account_thumbprint": b64(hashlib.sha256(canon.encode()).digest()),
       "ari_high": ari("leaf-high-serial.pem"), "ari_low": ari("leaf-low-serial.pem"),
       "rs256_input": sig_in, "rs256_signature": b64(openssl("dgst", "-sha256", "-sign", "rsa2048.key",
                                                              data=sig_in.encode())),
       "eab_kid": "kid-1", "eab_hmac_key": hkey, "eab_url": "https://ca.test/new-account",
       "eab_protected": b64(prot.encode()), "eab_payload": b64(canon.encode()), "eab_signature": b64(mac)}
with open("expected.json", "w") as f:
    json.dump(out, f, indent=2)
