"""Makes bqemulator use its DuckDB connection from one thread only.

bqemulator 1.4.0 answers REST requests on its asyncio event loop and runs the Storage Write
(gRPC) handlers on a thread pool, and both use the same DuckDB connection, which is not
thread-safe. An append that overlaps a query deadlocks the process for good: the query holds
DuckDB and waits for the GIL, the append holds the GIL and waits for DuckDB, and every later
request hangs. Any test where a writer appends while another client reads or creates tables
(the gcp pipeline e2e, jest workers sharing the emulator) runs into it.

This runs each Storage Write flush on the event loop, under the engine's write lock, as every
REST write already does; nothing else changes. tests/emulators/bigquery.ts puts this directory
on PYTHONPATH, so Python imports this module at start-up; without bqemulator it does nothing.
"""

import asyncio


def _run_flushes_on_the_event_loop() -> None:
    try:
        from bqemulator.grpc_api.write_servicer import BigQueryWriteHandler
    except ImportError:
        return

    original_init = BigQueryWriteHandler.__init__
    original_flush = BigQueryWriteHandler._flush_to_target

    def __init__(self, context, *args, **kwargs):
        original_init(self, context, *args, **kwargs)
        # Built by the server's async start-up, on the loop that serves REST.
        self._single_thread_loop = asyncio.get_running_loop()

    def _flush_to_target(self, stream, rows):
        async def flush():
            async with self._ctx.engine.write_lock():
                original_flush(self, stream, rows)

        # Called on a gRPC worker thread, which may block; the loop never waits for it.
        asyncio.run_coroutine_threadsafe(flush(), self._single_thread_loop).result()

    BigQueryWriteHandler.__init__ = __init__
    BigQueryWriteHandler._flush_to_target = _flush_to_target


_run_flushes_on_the_event_loop()
