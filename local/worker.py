"""A warm Lambda execution environment in a subprocess: imports the handler once (the init phase), then serves
invocations, one JSON event per line on stdin -> one JSON result per line on the protocol pipe.

The function's own prints and logs go to stderr, as CloudWatch would receive them. Run by local/runtime.py with the
app virtualenv's interpreter and PYTHONPATH = function code + layer.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
import uuid


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


def main() -> None:
    name, handler_path, memory, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sys.stdout = sys.stderr  # the function's stdout (logs, EMF metrics) must not mix with results
    os.dup2(sys.stderr.fileno(), 1)
    module_name, _, function_name = handler_path.rpartition(".")
    init_error = None
    try:
        handler = getattr(importlib.import_module(module_name), function_name)
    except Exception as exc:  # reported on every invocation, as Lambda does for a failed init
        traceback.print_exc()
        init_error = {"errorMessage": str(exc), "errorType": "Runtime.ImportModuleError"}
    for line in sys.stdin:
        if init_error:
            result = {"err": init_error}
        else:
            try:
                result = {"ok": handler(json.loads(line), Context(name, memory, timeout))}
            except Exception as exc:
                traceback.print_exc()
                result = {"err": {"errorMessage": str(exc), "errorType": type(exc).__name__}}
        protocol.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
