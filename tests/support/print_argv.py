"""Stands in for a Makefile's interpreter in tests (`make token PY="python tests/support/print_argv.py"`): prints the
arguments the recipe passed, as JSON, so a test sees exactly what the tool would have received."""

import json
import sys

print(json.dumps(sys.argv[1:]))
