#!/bin/sh
# Makes the secret files docker-compose.yml reads, once. Fill in the
# platform's credentials from the WeChat Open Platform (微信开放平台) console
# afterwards: secrets/platform_secret, platform_token, platform_aes_key, and
# its appid in platforms.json.
set -eu
cd "$(dirname "$0")"
# The directory is the owner's alone; the files in it are world-readable
# because compose bind-mounts them with their own mode and the container's
# user (uid 10001) must read them.
mkdir -p secrets
chmod 700 secrets
umask 022
[ -s secrets/postgres_password ] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > secrets/postgres_password
[ -s secrets/database_url ] || printf 'postgres://wxfleet:%s@postgres:5432/wxfleet?sslmode=disable' "$(cat secrets/postgres_password)" > secrets/database_url
[ -s secrets/admin_token ] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > secrets/admin_token
# The master key seals every refresh token: keep a copy apart from the
# database backups. `wxfleet keygen` prints one too.
[ -s secrets/master_key ] || head -c 32 /dev/urandom | base64 > secrets/master_key
for f in platform_secret platform_token platform_aes_key; do
	[ -e secrets/$f ] || : > secrets/$f
done
echo "secrets in $(pwd)/secrets; now fill in platform_secret, platform_token, platform_aes_key and the appid in platforms.json"
