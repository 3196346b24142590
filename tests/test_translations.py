"""Every user-facing string of every cc module has a zh_CN translation."""
import os
import subprocess
import sys

import pytest

from ccsuite import config


@pytest.mark.skipif(bool(os.environ.get('CC_DATABASE_URI')),
    reason="checked once, in the SQLite run (it builds its own database)")
def test_zh_cn_complete():
    # A child process: the check builds a scratch database with its own
    # trytond configuration.
    result = subprocess.run(
        [sys.executable, '-m', 'ccsuite.i18n', 'check'],
        cwd=config.ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert '0 untranslated string(s)' in result.stdout
