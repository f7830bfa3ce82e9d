"""Tenant setup: make a Logto tenant what the service needs, from one description file (description.yaml).

Run as `make logto-setup` (python -m tenant). The stand-in (local/logto) is seeded by the same code from the same file.
"""

import sys
from pathlib import Path

# The service's configuration and route table live in the Lambda layer; the tool and the stand-in run from the
# repository root, where the layer is not on the path.
_LAYER = str(Path(__file__).resolve().parent.parent / "layers" / "common")
if _LAYER not in sys.path:
    sys.path.append(_LAYER)
