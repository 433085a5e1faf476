"""One dlt run over the demo API's carts, for the peer comparison in changefeed's benchmarks.

Runs dlt's REST API source (resource `carts`, primary key `id`, merge strategy `scd2`) against
`--api URL` into a DuckDB file in `--work-dir DIR`. The pipeline's working folder lives in DIR too,
so each DIR is an isolated history: the first run on a DIR is a cold start, the next is a cycle.

Then it counts, for this load only, the carts dlt created, updated and deleted (see `COUNT_SQL`)
and prints ONE JSON line on stdout:

  {"wallMs", "importMs", "countMs", "peakRssBytes", "counts": {"created", "updated", "deleted"},
   "rows", "loadId", "dltVersion", "loaderFileFormat", "stepsMs": {"extract", "normalize", "load", "run"}}

wallMs runs from the start of main (after the imports) to the end, counting included; countMs is
the share of it spent counting. dlt logs to stderr only.

Left at dlt's defaults, so that dlt runs as a user would run it: the workers (normalize runs
in-process with 1, load has 20, extract 5), the buffer sizes of the data writers, the file
rotation, the REST client's retries and timeouts, and dlt's boundary timestamp for scd2 (the load
package's creation time). The loader file format too, unless `--loader-file-format` names one:
dlt's default for DuckDB, insert_values, has DuckDB run INSERT ... VALUES statements, which at
100,000 carts take ~50 s and ~8 GB of memory; parquet (dlt's advice for speed; needs pyarrow)
loads the same in ~1 s with ~300 MB, the whole run then taking ~12 s. Both are ways a user runs
dlt, so the benchmark can show both.
"""

import argparse
import json
import os
import resource
import sys
import time

# Telemetry would send an event per run to dlthub and add a network wait to the timings.
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

_import_start = time.perf_counter()
import dlt  # noqa: E402
import duckdb  # noqa: E402
from dlt.sources.rest_api import rest_api_source  # noqa: E402

IMPORT_MS = (time.perf_counter() - _import_start) * 1000

PIPELINE_NAME = "dlt_carts"
DATASET_NAME = "demo"
TABLE = "carts"
# changefeed polls the demo API with the same page size; 1000 is the API's maximum.
PAGE_SIZE = 1000
# dlt writes the scd2 boundary as a microsecond timestamp made from the load id (a float of unix
# seconds); DuckDB's to_timestamp of the same float can round the last microsecond the other way.
# Consecutive loads are at least a whole run apart, so a 1 ms window cannot catch another load.
BOUNDARY_SLACK_US = 1000


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--api", required=True, help="base URL of the demo API, e.g. http://127.0.0.1:8787")
    parser.add_argument("--work-dir", required=True, help="folder for the DuckDB file and dlt's pipeline state")
    parser.add_argument(
        "--loader-file-format",
        choices=["insert_values", "parquet"],
        help="the files dlt loads DuckDB from (default: dlt's choice for DuckDB, insert_values)",
    )
    return parser.parse_args()


def carts_source(api_url: str):  # type: ignore[no-untyped-def]
    return rest_api_source(
        {
            "client": {
                "base_url": api_url.rstrip("/") + "/",
                "paginator": {"type": "cursor", "cursor_path": "nextCursor", "cursor_param": "cursor"},
            },
            "resources": [
                {
                    "name": TABLE,
                    "primary_key": "id",
                    "write_disposition": {"disposition": "merge", "strategy": "scd2"},
                    "endpoint": {
                        "path": "carts",
                        "params": {"paging": "cursor", "limit": PAGE_SIZE},
                        "data_selector": "carts",
                    },
                }
            ],
        }
    )


# How scd2 records one load (dlt/destinations/sql_jobs.py, gen_scd2_sql): versions are identified
# by a hash of the whole record, nested lists included (`_dlt_id`). Each active version whose hash
# is absent from the extract is retired (`_dlt_valid_to` = boundary B of the load); each extracted
# record whose hash is not active is inserted (`_dlt_valid_from` = B, `_dlt_valid_to` NULL,
# `_dlt_load_id` = this load). Nested tables (carts__products) are insert-only, keyed to the root
# version's hash, so every change, nested ones too, shows in the root table, and the root alone is
# counted. Per cart id, then:
#   created = a version inserted, none retired (a new id, or an id deleted by an earlier load
#             and back now)
#   updated = a version retired and one inserted (also an id deleted and re-created between two
#             loads: it was there before and after, with other content)
#   deleted = a version retired, none inserted
COUNT_SQL = f"""
WITH boundary AS (SELECT epoch_us(to_timestamp(CAST($load_id AS DOUBLE))) AS us),
retired AS (
  SELECT DISTINCT id FROM {DATASET_NAME}.{TABLE}, boundary
  WHERE _dlt_valid_to IS NOT NULL AND abs(epoch_us(_dlt_valid_to) - boundary.us) <= {BOUNDARY_SLACK_US}
),
inserted AS (
  SELECT DISTINCT id FROM {DATASET_NAME}.{TABLE} WHERE _dlt_load_id = $load_id
)
SELECT
  count(*) FILTER (WHERE retired.id IS NULL) AS created,
  count(*) FILTER (WHERE retired.id IS NOT NULL AND inserted.id IS NOT NULL) AS updated,
  count(*) FILTER (WHERE inserted.id IS NULL) AS deleted
FROM retired FULL OUTER JOIN inserted ON retired.id = inserted.id
"""

# Checks that the reading above holds for this load; a failure means the counts would be wrong.
CHECK_SQL = f"""
WITH boundary AS (SELECT epoch_us(to_timestamp(CAST($load_id AS DOUBLE))) AS us)
SELECT
  (SELECT count(*) FROM {DATASET_NAME}.{TABLE}, boundary
    WHERE _dlt_load_id = $load_id
      AND (_dlt_valid_to IS NOT NULL OR abs(epoch_us(_dlt_valid_from) - boundary.us) > {BOUNDARY_SLACK_US}))
    AS inserted_off_boundary,
  (SELECT count(*) - count(DISTINCT id) FROM {DATASET_NAME}.{TABLE} WHERE _dlt_load_id = $load_id)
    AS ids_inserted_twice,
  (SELECT count(*) - count(DISTINCT id) FROM {DATASET_NAME}.{TABLE}, boundary
    WHERE _dlt_valid_to IS NOT NULL AND abs(epoch_us(_dlt_valid_to) - boundary.us) <= {BOUNDARY_SLACK_US})
    AS ids_retired_twice,
  (SELECT count(*) - count(DISTINCT id) FROM {DATASET_NAME}.{TABLE} WHERE _dlt_valid_to IS NULL)
    AS ids_active_twice,
  (SELECT count(*) FROM {DATASET_NAME}.{TABLE} WHERE _dlt_valid_to IS NULL) AS rows
"""


def count_changes(db_path: str, load_id: str) -> tuple[dict[str, int], int]:
    with duckdb.connect(db_path, read_only=True) as con:
        created, updated, deleted = con.execute(COUNT_SQL, {"load_id": load_id}).fetchone()  # type: ignore[misc]
        off_boundary, inserted_twice, retired_twice, active_twice, rows = con.execute(  # type: ignore[misc]
            CHECK_SQL, {"load_id": load_id}
        ).fetchone()
    problems = {
        "versions inserted by this load off its boundary": off_boundary,
        "ids with two versions inserted by this load": inserted_twice,
        "ids with two versions retired by this load": retired_twice,
        "ids with two active versions": active_twice,
    }
    found = {what: n for what, n in problems.items() if n != 0}
    if found:
        raise RuntimeError(f"the scd2 table does not read as expected for load {load_id}: {found}")
    return {"created": created, "updated": updated, "deleted": deleted}, rows


def steps_ms(pipeline: dlt.Pipeline) -> dict[str, float]:
    """How long dlt's extract, normalize and load steps took, to see where a phase spends its time."""
    trace = pipeline.last_trace
    return {
        step.step: (step.finished_at - step.started_at).total_seconds() * 1000
        for step in (trace.steps if trace is not None else [])
        if step.finished_at is not None
    }


def peak_rss_bytes() -> int:
    # Linux reports ru_maxrss in KiB; children cover any worker processes dlt starts.
    kib = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    )
    return kib * 1024


def main() -> None:
    start = time.perf_counter()
    args = parse_args()
    work_dir = os.path.abspath(args.work_dir)
    os.makedirs(work_dir, exist_ok=True)
    db_path = os.path.join(work_dir, "carts.duckdb")

    pipeline = dlt.pipeline(
        pipeline_name=PIPELINE_NAME,
        pipelines_dir=os.path.join(work_dir, "pipelines"),
        destination=dlt.destinations.duckdb(db_path),
        dataset_name=DATASET_NAME,
    )
    # None lets dlt choose, exactly as when the argument is not given.
    load_info = pipeline.run(carts_source(args.api), loader_file_format=args.loader_file_format)
    print(load_info, file=sys.stderr)
    if len(load_info.loads_ids) != 1:
        raise RuntimeError(f"expected one load package, dlt made {len(load_info.loads_ids)}: {load_info.loads_ids}")
    load_id = load_info.loads_ids[0]

    count_start = time.perf_counter()
    counts, rows = count_changes(db_path, load_id)
    end = time.perf_counter()

    result = {
        "wallMs": (end - start) * 1000,
        "importMs": IMPORT_MS,
        "countMs": (end - count_start) * 1000,
        "peakRssBytes": peak_rss_bytes(),
        "counts": counts,
        "rows": rows,
        "loadId": load_id,
        "dltVersion": dlt.__version__,
        "loaderFileFormat": args.loader_file_format or "default",
        "stepsMs": steps_ms(pipeline),
    }
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
