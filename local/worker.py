"""A warm Lambda execution environment in a subprocess: imports the handler once (the init phase), then serves
invocations, one JSON event per line on stdin -> one JSON result per line on the protocol pipe.

The function's own prints and logs go to stderr, as CloudWatch would receive them, framed by the lines Lambda writes
to every log stream (START / END / REPORT, with Init Duration on the first invocation). Run by local/runtime.py with
the app virtualenv's interpreter and PYTHONPATH = function code + layer.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import signal
import sys
import time
import traceback
import uuid

# What an authorizer raises for a 401 (API Gateway's documented protocol): a normal outcome, so one log line, no trace.
UNAUTHORIZED = "Unauthorized"


class Context:
    def __init__(self, name: str, memory: int, timeout: float):
        self.function_name = name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory
        self.invoked_function_arn = (
            f"arn:aws:lambda:{os.environ.get('AWS_REGION', 'us-east-1')}:123456789012:function:{name}"
        )
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def error_result(exc: BaseException, error_type: str | None = None) -> dict:
    """The error payload Lambda returns for an unhandled exception (what `sam local invoke` prints). No requestId:
    SAM recognises an error payload only by these keys (LambdaOutputParser.is_lambda_error_response)."""
    trace = traceback.format_tb(exc.__traceback__)[1:]  # from the handler on, without this worker's own frame
    if str(exc) == UNAUTHORIZED:
        print(f"[ERROR] {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
    else:
        print(f"[ERROR] {type(exc).__name__}: {exc}", file=sys.stderr)
        traceback.print_exception(exc, file=sys.stderr)
    return {"errorMessage": str(exc), "errorType": error_type or type(exc).__name__, "stackTrace": trace}


def main() -> None:
    # Ctrl-C in `make local`'s terminal reaches every process of its group; the server stops the workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    name, handler_path, memory, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sys.stdout = sys.stderr  # the function's stdout (logs, EMF metrics) must not mix with results
    os.dup2(sys.stderr.fileno(), 1)
    module_name, _, function_name = handler_path.rpartition(".")
    init_error = None
    init_started = time.perf_counter()
    print("INIT_START Runtime Version: python:{}.{} (local worker)".format(*sys.version_info[:2]), file=sys.stderr)
    try:
        handler = getattr(importlib.import_module(module_name), function_name)
    except Exception as exc:  # reported on every invocation, as Lambda does for a failed init
        init_error = error_result(exc, "Runtime.ImportModuleError")
    init_ms: float | None = (time.perf_counter() - init_started) * 1000
    for line in sys.stdin:
        context = Context(name, memory, timeout)
        request_id = context.aws_request_id
        print(f"START RequestId: {request_id} Version: $LATEST", file=sys.stderr, flush=True)
        started = time.perf_counter()
        if init_error:
            result = {"err": init_error}
        else:
            try:
                result = {"ok": handler(json.loads(line), context)}
            except Exception as exc:
                result = {"err": error_result(exc)}
        duration = (time.perf_counter() - started) * 1000
        used_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024  # Linux reports KiB
        report = (
            f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms\tBilled Duration: {max(1, round(duration))} ms"
            f"\tMemory Size: {memory} MB\tMax Memory Used: {used_mb} MB"
        )
        if init_ms is not None:
            report += f"\tInit Duration: {init_ms:.2f} ms"
            init_ms = None
        print(f"END RequestId: {request_id}\n{report}", file=sys.stderr, flush=True)
        protocol.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
