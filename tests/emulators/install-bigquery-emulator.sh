#!/usr/bin/env bash
# Installs the BigQuery emulator the GCP adapter tests talk to: bqemulator (PyPI), a DuckDB-backed
# emulator serving the BigQuery REST API and the Storage Write/Read gRPC APIs. Google ships no
# BigQuery emulator; goccy/bigquery-emulator is not served by the Go module proxy here and needs a
# long cgo build of go-zetasql, so this is the one that installs from a registry in seconds.
#
# Idempotent: the virtualenv lives in a cache directory reused across runs and clones
# ($CHANGEFEED_CACHE_DIR, else $XDG_CACHE_HOME/changefeed, else ~/.cache/changefeed); a complete
# install is marked by a stamp file and skipped next time. Prints the launcher's path last.
#
# The launcher runs the emulator with:
# - HOME pointed inside the cache, where DuckDB's spatial extension is pre-installed from the
#   duckdb-extension-spatial wheel: bqemulator refuses to start without it, and DuckDB would
#   otherwise download it at start-up, which fails without internet access;
# - BQEMU_ENABLE_FORMAT_EXTENSIONS=false, so it does not try to download the avro extension.
set -euo pipefail

BQEMULATOR_VERSION=1.4.0
# The spatial extension must be built for exactly this DuckDB.
DUCKDB_VERSION=1.5.5

cache_root="${CHANGEFEED_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/changefeed}"
dir="$cache_root/bigquery-emulator-$BQEMULATOR_VERSION"
launcher="$dir/bin/bigquery-emulator"
stamp="$dir/.installed"

fail() {
  echo "install-bigquery-emulator: $*" >&2
  exit 1
}

if [ -f "$stamp" ] && [ -x "$launcher" ]; then
  echo "BigQuery emulator (bqemulator $BQEMULATOR_VERSION) already installed"
  echo "$launcher"
  exit 0
fi

mkdir -p "$cache_root"
# Two runs at once (two checkouts, two CI jobs on one machine) must not build the same venv.
exec 9>"$cache_root/.bigquery-emulator.lock"
flock 9
if [ -f "$stamp" ] && [ -x "$launcher" ]; then
  echo "$launcher"
  exit 0
fi

python=""
for candidate in python3.11 python3.12 python3.13 python3; do
  if command -v "$candidate" >/dev/null 2>&1 &&
    "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
    python="$(command -v "$candidate")"
    break
  fi
done
[ -n "$python" ] || fail "bqemulator needs Python 3.11 or later (with venv); none was found on PATH"

echo "Installing the BigQuery emulator (bqemulator $BQEMULATOR_VERSION) into $dir with $("$python" --version)"
rm -rf "$dir"
mkdir -p "$dir/bin" "$dir/home"
"$python" -m venv "$dir/venv" || fail "could not create a virtualenv with $python (is python3-venv installed?)"

# Every package pinned, so a new release upstream cannot change what CI runs.
constraints="$dir/constraints.txt"
cat >"$constraints" <<EOF
alembic==1.20.1
annotated-doc==0.0.7
annotated-types==0.8.0
anyio==4.16.0
asgiref==3.13.0
bqemulator==$BQEMULATOR_VERSION
certifi==2026.10.19.post1
cffi==2.1.1
charset-normalizer==3.5.2
click==8.5.1
cryptography==50.0.2
duckdb==$DUCKDB_VERSION
duckdb_extension_spatial==$DUCKDB_VERSION
fastapi==0.165.0
fastavro==1.13.1
google-api-core==2.44.0
google-auth==2.63.0
google-cloud-bigquery-storage==2.43.0
googleapis-common-protos==1.76.0
grpcio==1.85.3
grpcio-health-checking==1.80.1
grpcio-status==1.85.3
grpcio-tools==1.80.1
h11==0.16.0
httpcore==1.0.9
httptools==0.9.0
httpx==0.28.1
idna==3.20
Mako==1.4.3
MarkupSafe==3.0.4
numpy==2.4.6
opentelemetry-api==1.45.2
opentelemetry-exporter-http-transport==0.66b2
opentelemetry-exporter-otlp==1.45.2
opentelemetry-exporter-otlp-common==0.66b2
opentelemetry-exporter-otlp-proto-common==1.45.2
opentelemetry-exporter-otlp-proto-grpc==1.45.2
opentelemetry-exporter-otlp-proto-http==1.45.2
opentelemetry-instrumentation==0.66b2
opentelemetry-instrumentation-asgi==0.66b2
opentelemetry-instrumentation-fastapi==0.66b2
opentelemetry-instrumentation-grpc==0.66b2
opentelemetry-proto==1.45.2
opentelemetry-sdk==1.45.2
opentelemetry-semantic-conventions==0.66b2
opentelemetry-util-http==0.66b2
orjson==3.13.0
packaging==26.3
prometheus_client==0.26.0
proto-plus==1.29.0
protobuf==6.33.6
pyarrow==26.0.1
pyasn1==0.6.5
pyasn1_modules==0.4.2
pycparser==3.12
pydantic==2.14.4
pydantic-settings==2.16.3
pydantic_core==2.50.5
PyJWT==2.15.1
python-dotenv==1.2.4
pytz==2026.6
PyYAML==6.0.4
requests==2.34.2
SQLAlchemy==2.1.9
sqlglot==30.11.0
starlette==1.10.0
structlog==26.1.0
typing-inspection==0.4.5
typing_extensions==4.16.0
urllib3==2.8.0
uvicorn==0.54.0
uvloop==0.23.0
watchfiles==1.3.0
websockets==17.4
wrapt==2.5.2
EOF

# numpy: bqemulator registers numpy-backed UDFs at start-up but lists numpy only as an extra.
"$dir/venv/bin/python" -m pip install --disable-pip-version-check --no-input --progress-bar off -q \
  --constraint "$constraints" \
  "bqemulator==$BQEMULATOR_VERSION" "duckdb==$DUCKDB_VERSION" "duckdb-extension-spatial==$DUCKDB_VERSION" numpy ||
  fail "pip could not install bqemulator $BQEMULATOR_VERSION from PyPI (see above)"

# Installs the wheel's extension file into $dir/home/.duckdb/extensions, where DuckDB finds it
# when the emulator (run with that HOME) asks for `INSTALL spatial`.
HOME="$dir/home" "$dir/venv/bin/python" - <<'PY' || fail "could not install DuckDB's spatial extension from the wheel"
import glob, os, duckdb, duckdb_extension_spatial
pattern = os.path.join(os.path.dirname(duckdb_extension_spatial.__file__), "extensions", "v" + duckdb.__version__, "spatial.duckdb_extension")
files = glob.glob(pattern)
if not files:
    raise SystemExit(f"no spatial extension for DuckDB {duckdb.__version__} in the wheel ({pattern})")
connection = duckdb.connect()
connection.execute(f"INSTALL '{files[0]}'")
connection.execute("LOAD spatial")
PY

cat >"$launcher" <<EOF
#!/usr/bin/env bash
# Runs bqemulator $BQEMULATOR_VERSION; written by tests/emulators/install-bigquery-emulator.sh.
export HOME="$dir/home"
export BQEMU_ENABLE_FORMAT_EXTENSIONS=false
exec "$dir/venv/bin/python" -m bqemulator "\$@"
EOF
chmod +x "$launcher"

"$launcher" version >/dev/null || fail "the installed emulator does not run: $launcher version"
touch "$stamp"
echo "BigQuery emulator installed"
echo "$launcher"
