"""Without Chromium the browser tests skip on a developer's machine, but fail in CI (CI=true), where a skip would hide
that no browser test ran."""

from __future__ import annotations

import pytest

from tests.browser.conftest import require_chromium


def test_missing_chromium_fails_in_ci_and_skips_locally(tmp_path):
    missing = tmp_path / "chromium"
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y chromium"):
        require_chromium(missing, ci=True)
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y chromium"):
        require_chromium(missing, ci=False)
    present = tmp_path / "present"
    present.touch()
    require_chromium(present, ci=True)
