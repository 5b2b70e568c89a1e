#!/bin/sh
# Makes the test certificates of this folder (run once; the files are committed).
# Needs openssl 3. Every key is ECDSA P-256; every certificate but expired.pem is valid
# for 100 years from the day it was made.
set -eu
cd "$(dirname "$0")"
days=36500
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The certificate authority the tests and examples trust (ca.pem).
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout ca-key.pem -out ca.pem -days "$days" -subj "/CN=ioloop test CA" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign

# A server certificate signed by it, for localhost, 127.0.0.1 and ::1 (server.pem,
# server-key.pem) and one for another name (wrong-name.pem, wrong-name-key.pem).
leaf() { # name, subjectAltName
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$1-key.pem" -out "$tmp/$1.csr" -subj "/CN=$1"
    printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=%s\n' "$2" >"$tmp/$1.ext"
    openssl x509 -req -in "$tmp/$1.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
        -CAserial "$tmp/serial" -days "$days" -extfile "$tmp/$1.ext" -out "$1.pem"
}
leaf server "DNS:localhost,IP:127.0.0.1,IP:::1"
leaf wrong-name "DNS:not-this-host.example"

# A certificate for localhost that expired long ago (expired.pem, expired-key.pem): `openssl
# ca` is the tool of openssl 3.0 that sets past dates.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout expired-key.pem -out "$tmp/expired.csr" -subj "/CN=localhost"
mkdir "$tmp/db"
: >"$tmp/db/index.txt"
cat >"$tmp/ca.cnf" <<CNF
[ca]
default_ca = test
[test]
database = $tmp/db/index.txt
new_certs_dir = $tmp/db
serial = $tmp/db/serial
default_md = sha256
policy = any
copy_extensions = none
x509_extensions = leaf
[any]
commonName = supplied
[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1,IP:::1
CNF
echo 01 >"$tmp/db/serial"
openssl ca -batch -config "$tmp/ca.cnf" -cert ca.pem -keyfile ca-key.pem \
    -startdate 20000101000000Z -enddate 20010101000000Z \
    -in "$tmp/expired.csr" -out expired.pem -notext
