#!/usr/bin/env bash
# Makes moto's S3-compatible server available for the live state-backend tests, in a Python venv in
# a cache outside the repository:
#   <cache>/moto/<version>/bin/moto_server
# The venv also holds prometheus-client, the reference client's text-format parser, with which the
# agent tests read /metrics (a JavaScript parser that keeps histogram labels was not to be had).
# Opt-in: only the tests need it. Progress goes to stderr; the last line on
# stdout is the venv's bin directory. Idempotent: a warm venv whose stamp matches returns at once.
#
# Usage: provision/moto.sh [--force]   (--force reinstalls even when the cache is warm)
set -euo pipefail

# The pin. moto[server] pulls in flask and werkzeug for the standalone server, and the rest of its
# dependencies are pinned too (constraints below, from `pip freeze` of a working install on
# Python 3.11, 2026-11-28), so a new release of any of them cannot change the tests' S3.
moto_version=5.2.5
prometheus_client_version=0.26.0
constraints=$(cat <<'PINS'
annotated-types==0.8.0
antlr4-python3-runtime==4.13.2
attrs==26.1.0
aws-xray-sdk==2.15.0
blinker==1.9.0
boto3==1.44.8
botocore==1.44.8
certifi==2026.10.19.post1
cffi==2.1.1
cfn-lint==1.58.0
charset-normalizer==3.5.3
click==8.5.1
cryptography==50.0.2
docker==7.2.0
Flask==3.1.3
flask-cors==6.0.5
graphql-core==3.3.2
idna==3.20
itsdangerous==2.2.0
Jinja2==3.1.6
jmespath==1.1.0
joserfc==1.8.0
jsonpatch==1.48
jsonpath-ng==1.16.0
jsonpointer==3.12
jsonschema==4.26.0
jsonschema-path==0.5.0
jsonschema-specifications==2025.9.1
lazy-object-proxy==1.13.0
MarkupSafe==3.0.4
mpmath==1.3.0
networkx==3.6.1
openapi-schema-validator==0.9.0
openapi-spec-validator==0.9.0
pathable==0.6.0
py-partiql-parser==0.6.3
pycparser==3.12
pydantic==2.14.4
pydantic-settings==2.16.3
pydantic_core==2.50.5
pyparsing==3.3.3
python-dateutil==2.9.0.post0
python-dotenv==1.2.4
PyYAML==6.0.4
referencing==0.37.0
regex==2026.11.19
requests==2.34.2
responses==0.26.3
rfc3339-validator==0.1.4
rpds-py==2026.9.1
s3transfer==0.19.3
six==1.17.0
sympy==1.14.0
typing-inspection==0.4.5
typing_extensions==4.16.0
urllib3==2.8.0
Werkzeug==3.1.9
wrapt==2.5.2
xmltodict==1.0.4
PINS
)
force=false
[ "${1:-}" = "--force" ] && force=true

tag=moto
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

venv="$cache_root/moto/$moto_version"
bin="$venv/bin"
stamp=$(code_of "$0" | sha256sum | cut -c1-16)

warm() {
  [ "$(cat "$venv/stamp" 2>/dev/null)" = "$stamp" ] && [ -x "$bin/moto_server" ]
}

if ! $force && warm; then
  echo "$bin"
  exit 0
fi

python=$(command -v python3 || true)
[ -n "$python" ] && "$python" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 9))' 2>/dev/null ||
  die "moto $moto_version needs Python 3.9+ with the venv module" \
    "install python3 and python3-venv (Debian: apt-get install python3 python3-venv), then run this again"

mkdir -p "$cache_root/moto"
# Built in a staging venv and renamed into place, so an interrupted install is never trusted. A
# venv's console scripts name their interpreter by absolute path; they are rewritten after the rename.
staging=$(mktemp -d "$cache_root/moto/.staging.XXXXXX")
trap 'rm -rf "$staging"' EXIT
t0=$SECONDS
say "installing moto[server]==$moto_version and prometheus-client==$prometheus_client_version from PyPI into $venv"
"$python" -m venv "$staging"
printf '%s\n' "$constraints" >"$staging/constraints.txt"
"$staging/bin/python" -m pip install --quiet --disable-pip-version-check -c "$staging/constraints.txt" "moto[server]==$moto_version" "prometheus-client==$prometheus_client_version"
echo "$stamp" >"$staging/stamp"
rm -rf "$venv"
mv "$staging" "$venv"
trap - EXIT
# Console scripts carry the staging path in their shebang; point them at the final interpreter.
{ grep -rlI --null "^#!$staging/bin/python" "$bin" || true; } | xargs -0 -r sed -i "1s|^#!$staging/bin/python|#!$venv/bin/python|"
sed -i "s|$staging|$venv|g" "$bin/activate" "$venv/pyvenv.cfg" 2>/dev/null || true
"$bin/moto_server" --help >/dev/null ||
  die "moto_server does not start from $bin" "run provision/moto.sh --force"
"$bin/python" -c 'import prometheus_client.parser' ||
  die "prometheus_client does not import in $bin/python" "run provision/moto.sh --force"
say "moto $moto_version ready in $((SECONDS - t0)) s: $bin/moto_server"
echo "$bin"
