#!/usr/bin/env bash
# The package test's certificates and identity provider, made as docs/install.md shows with
# openssl: a CA (for the server and the client certificates), vaultd's server certificate for
# localhost and 127.0.0.1, client certificates for the MDM and the portal, and an EC P-256 IdP
# key whose public half the vault trusts.
#   make_test_pki.sh WORK CONF_DIR
# Writes into CONF_DIR (as vaultctl init's config names them): tls/client-ca.crt,
# tls/server.crt, tls/server.key (owner escrow, 0600), idp/signing.pub; and, for portald and
# vault-notify as their packaged configs name them, tls/ca.crt and tls/clients/{portal,notifier}
# .{crt,key}. Into WORK: the CA key, {mdm,portal,notifier}.{crt,key,fp} (fp: the SHA-256 of
# the public key that [[clients]] pins), idp.key.
set -euo pipefail
work=$1 conf=$2
days=2
ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
umask 077
install -d -o root -g escrow -m 0750 "$conf/tls" "$conf/idp"

openssl req -x509 "${ec[@]}" -keyout "$work/ca.key" -out "$conf/tls/client-ca.crt" \
  -days "$days" -subj "/CN=escrow package test CA" 2>/dev/null
# issue NAME CN [EXT]: a key and a certificate signed by the CA.
issue() {
  local name=$1 cn=$2 ext=${3:-}
  openssl req "${ec[@]}" -keyout "$work/$name.key" -out "$work/$name.csr" -subj "/CN=$cn" 2>/dev/null
  openssl x509 -req -in "$work/$name.csr" -CA "$conf/tls/client-ca.crt" -CAkey "$work/ca.key" \
    -CAcreateserial -days "$days" -out "$work/$name.crt" ${ext:+-extfile <(printf '%s\n' "$ext")} 2>/dev/null
  openssl x509 -pubkey -noout -in "$work/$name.crt" | openssl pkey -pubin -outform DER |
    sha256sum | cut -d' ' -f1 >"$work/$name.fp"
}
issue server localhost "subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth"
issue mdm mdm "extendedKeyUsage=clientAuth"
issue portal portal "extendedKeyUsage=clientAuth"
issue notifier notifier "extendedKeyUsage=clientAuth"
install -o root -g escrow -m 0644 "$work/server.crt" "$conf/tls/server.crt"
install -o escrow -g escrow -m 0600 "$work/server.key" "$conf/tls/server.key"
chmod 0644 "$conf/tls/client-ca.crt"
install -o root -g escrow -m 0644 "$conf/tls/client-ca.crt" "$conf/tls/ca.crt"
install -d -o root -g escrow -m 0750 "$conf/tls/clients"
for client in portal notifier; do
  install -o root -g escrow -m 0644 "$work/$client.crt" "$conf/tls/clients/$client.crt"
  install -o escrow -g escrow -m 0600 "$work/$client.key" "$conf/tls/clients/$client.key"
done

openssl ecparam -name prime256v1 -genkey -noout -out "$work/idp.key"
openssl ec -in "$work/idp.key" -pubout -out "$conf/idp/signing.pub" 2>/dev/null
chmod 0644 "$conf/idp/signing.pub"
