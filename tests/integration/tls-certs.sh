#!/bin/sh
# tests/integration/tls-certs.sh DIR - a throw-away test CA and certificates
# for the TLS tests, made at test time (nothing that expires is committed):
#   ca.pem             the CA (clients trust it)
#   a.pem a.key        leaf for a.test, localhost, 127.0.0.1 (ECDSA P-256)
#   b.pem b.key        leaf for b.test and *.wild.test (ECDSA P-256)
#   a2.pem a2.key      another leaf for a.test (a "renewed" certificate)
#   expired.pem .key   leaf for a.test that expired in 2020
#   rsa.pem rsa.key    leaf for a.test with an RSA 2048 key (1.2 suites)
set -eu
d=$1
mkdir -p "$d"
cd "$d"
ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

ec ca.key
openssl req -x509 -new -key ca.key -out ca.pem -days 2 -subj "/CN=mthttpd test CA" \
	-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
	2>/dev/null

# leaf NAME SAN [KEYFILE-MAKER]
leaf() {
	name=$1 san=$2
	[ -f "$name.key" ] || ec "$name.key"
	openssl req -new -key "$name.key" -out "$name.csr" -subj "/CN=${3:-$name}" 2>/dev/null
	printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
		"$san" > "$name.ext"
	openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
		-days 2 -extfile "$name.ext" -out "$name.pem" 2>/dev/null
}
leaf a "DNS:a.test,DNS:localhost,IP:127.0.0.1" a.test
leaf b "DNS:b.test,DNS:*.wild.test" b.test
leaf a2 "DNS:a.test,DNS:localhost,IP:127.0.0.1" a.test
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.key 2>/dev/null
leaf rsa "DNS:a.test,DNS:localhost,IP:127.0.0.1" a.test

# expired: `openssl ca` is the one tool that takes explicit dates
ec expired.key
openssl req -new -key expired.key -out expired.csr -subj "/CN=a.test" 2>/dev/null
mkdir -p ca.db
: > ca.db/index.txt
echo 01 > ca.db/serial
cat > ca.cnf <<CNF
[ca]
default_ca = test
[test]
dir = $(pwd)/ca.db
database = \$dir/index.txt
serial = \$dir/serial
new_certs_dir = \$dir
certificate = $(pwd)/ca.pem
private_key = $(pwd)/ca.key
default_md = sha256
policy = any
copy_extensions = none
[any]
commonName = supplied
CNF
openssl ca -batch -config ca.cnf -in expired.csr -out expired.pem \
	-startdate 20200101000000Z -enddate 20200102000000Z -notext 2>/dev/null
