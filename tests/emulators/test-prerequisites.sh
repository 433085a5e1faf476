#!/usr/bin/env bash
# What `npm test` needs besides node_modules, checked before the typecheck so that a missing piece
# is named in one plain message instead of deep in jest's output:
# - the BigQuery emulator: installed here, into its cache (install-bigquery-emulator.sh; quick
#   when it is already there). Needs Python 3.11+ with venv.
# - the Cloud Storage emulator (fake-gcs-server): built here, into its cache
#   (install-fake-gcs-server.sh; quick when it is already there). Needs Go 1.24+.
# - the Pub/Sub and Firestore emulators and Java: these come with the Google Cloud CLI, which this
#   script cannot install; it says how to.
# An emulator whose variables already point at a running one (e.g. `source /tmp/emu/env.sh`) is
# neither installed nor checked. Exits 1 after listing everything that is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

set_var() { [ -n "${!1:-}" ]; }
missing=()

if ! set_var BIGQUERY_EMULATOR_HOST || ! set_var BIGQUERY_STORAGE_EMULATOR_HOST; then
  if [ -n "${BIGQUERY_EMULATOR_BIN:-}" ]; then
    [ -x "$BIGQUERY_EMULATOR_BIN" ] || missing+=("BIGQUERY_EMULATOR_BIN=$BIGQUERY_EMULATOR_BIN is not an executable file.")
  elif ! bash tests/emulators/install-bigquery-emulator.sh; then
    missing+=("The BigQuery emulator could not be installed (see above): it needs Python 3.11+ with venv (e.g. apt-get install python3 python3-venv) and access to PyPI.")
  fi
fi

if ! set_var STORAGE_EMULATOR_HOST; then
  if [ -n "${FAKE_GCS_SERVER_BIN:-}" ]; then
    [ -x "$FAKE_GCS_SERVER_BIN" ] || missing+=("FAKE_GCS_SERVER_BIN=$FAKE_GCS_SERVER_BIN is not an executable file.")
  elif ! bash tests/emulators/install-fake-gcs-server.sh; then
    missing+=("The Cloud Storage emulator (fake-gcs-server) could not be built (see above): it needs Go 1.24+ (https://go.dev/dl/, on PATH or in /usr/local/go) and access to the Go module proxy.")
  fi
fi

wants_gcloud=()
set_var PUBSUB_EMULATOR_HOST || wants_gcloud+=("pubsub-emulator/bin/cloud-pubsub-emulator")
set_var FIRESTORE_EMULATOR_HOST || wants_gcloud+=("cloud-firestore-emulator/cloud_firestore_emulator")
if [ "${#wants_gcloud[@]}" -gt 0 ]; then
  # The same lookup as bench/emulators/gcloud-emulators.ts (gcloudPlatformDir).
  if [ -n "${GCLOUD_PLATFORM_DIR:-}" ]; then
    platform="$GCLOUD_PLATFORM_DIR"
  elif gcloud="$(command -v gcloud)"; then
    platform="$(dirname "$(readlink -f "$gcloud")")/../platform"
  else
    platform=/usr/lib/google-cloud-sdk/platform
  fi
  absent=()
  for emulator in "${wants_gcloud[@]}"; do
    [ -e "$platform/$emulator" ] || absent+=("$platform/$emulator")
  done
  if [ "${#absent[@]}" -gt 0 ]; then
    missing+=("Not found: ${absent[*]}. The Pub/Sub and Firestore emulators come with the Google Cloud CLI (https://cloud.google.com/sdk/docs/install): gcloud components install pubsub-emulator cloud-firestore-emulator, or the packages google-cloud-cli-pubsub-emulator google-cloud-cli-firestore-emulator.")
  fi
  # The gcloud launchers run `java` from PATH.
  if ! command -v java >/dev/null 2>&1; then
    missing+=("No java on PATH: the Pub/Sub and Firestore emulators need Java 17 or later (e.g. apt-get install openjdk-17-jre-headless).")
  else
    version="$(java -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n 1)"
    major="${version%%.*}"
    [ "$major" = 1 ] && major="$(echo "$version" | cut -d. -f2)"
    if [[ "$major" =~ ^[0-9]+$ ]] && [ "$major" -lt 17 ]; then
      missing+=("java on PATH is version $version: the Pub/Sub and Firestore emulators need Java 17 or later.")
    fi
  fi
fi

if [ "${#missing[@]}" -gt 0 ]; then
  {
    echo
    echo "npm test runs the GCP adapter tests against local emulators, and this machine lacks what they need:"
    printf '  - %s\n' "${missing[@]}"
    echo
    echo "Install what is listed, or point PUBSUB_EMULATOR_HOST, FIRESTORE_EMULATOR_HOST, BIGQUERY_EMULATOR_HOST,"
    echo "BIGQUERY_STORAGE_EMULATOR_HOST and STORAGE_EMULATOR_HOST at emulators you run yourself (README, Developing)."
    echo "The tests that need no emulator run without any of this: npx jest --selectProjects unit local"
  } >&2
  exit 1
fi
