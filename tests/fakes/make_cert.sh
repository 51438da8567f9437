#!/bin/sh
# Generates a throwaway CA and a server certificate for 127.0.0.1 / localhost.
#
#   tests/fakes/make_cert.sh OUTDIR
#
# Writes OUTDIR/ca.pem (trust this in clients), OUTDIR/ca.key,
# OUTDIR/server.pem and OUTDIR/server.key (give these to fake_api.py --tls).
# Needs the openssl CLI (Debian package: openssl).
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi
out=$1
command -v openssl >/dev/null 2>&1 || {
    echo "$0: openssl not found (apt-get install openssl)" >&2
    exit 1
}
mkdir -p "$out"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fake-api-cert.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

cat >"$tmp/ca.ext" <<'EOF'
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF

cat >"$tmp/server.ext" <<'EOF'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
EOF

q() { "$@" >"$tmp/log" 2>&1 || { cat "$tmp/log" >&2; exit 1; }; }

# CA: key, CSR, self-signed with explicit v3 extensions.
q openssl genrsa -out "$tmp/ca.key" 2048
q openssl req -new -key "$tmp/ca.key" -subj "/CN=ferry fake-api test CA" \
    -out "$tmp/ca.csr"
q openssl x509 -req -in "$tmp/ca.csr" -signkey "$tmp/ca.key" -days 3650 \
    -sha256 -set_serial "0x$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" \
    -extfile "$tmp/ca.ext" -out "$tmp/ca.pem"

# Server certificate signed by the CA.
q openssl genrsa -out "$tmp/server.key" 2048
q openssl req -new -key "$tmp/server.key" -subj "/CN=localhost" \
    -out "$tmp/server.csr"
q openssl x509 -req -in "$tmp/server.csr" -CA "$tmp/ca.pem" \
    -CAkey "$tmp/ca.key" -days 825 -sha256 \
    -set_serial "0x$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" \
    -extfile "$tmp/server.ext" -out "$tmp/server.pem"

q openssl verify -CAfile "$tmp/ca.pem" "$tmp/server.pem"

chmod 600 "$tmp/ca.key" "$tmp/server.key"
for f in ca.pem ca.key server.pem server.key; do
    mv -f "$tmp/$f" "$out/$f"
done
echo "wrote $out/ca.pem $out/server.pem $out/server.key"
