"""Test data that is not ours (tests/testdata.py): found through its variable, ../shared or
tests/data; when absent, one skip line saying where it looked and how to get it, or a failure
under AZOTH_REQUIRE_TESTDATA=1 (.ci/run)."""
import pytest

import testdata

ABSENT = testdata.Data("no-such-data", "AZOTH_NO_SUCH_DATA", "the example data",
                       "https://example.invalid/data.git", "0" * 40, "", "probe.txt")


def test_absent_data_skips_in_one_line(monkeypatch):
    monkeypatch.delenv(testdata.REQUIRE, raising=False)
    monkeypatch.delenv("AZOTH_NO_SUCH_DATA", raising=False)
    with pytest.raises(pytest.skip.Exception) as info:
        testdata.require(ABSENT)
    message = str(info.value)
    assert "\n" not in message
    assert "the example data not found (looked in $AZOTH_NO_SUCH_DATA (unset), " \
           "../shared/no-such-data, tests/data/no-such-data)" in message
    assert "`tests/testdata.py fetch`" in message


def test_absent_data_fails_when_required(monkeypatch):
    monkeypatch.setenv(testdata.REQUIRE, "1")
    with pytest.raises(pytest.fail.Exception) as info:
        testdata.require(ABSENT)
    assert "AZOTH_REQUIRE_TESTDATA=1" in str(info.value)


def test_the_variable_comes_first(monkeypatch, tmp_path):
    (tmp_path / "probe.txt").write_text("here")
    monkeypatch.setenv("AZOTH_NO_SUCH_DATA", str(tmp_path))
    assert testdata.require(ABSENT) == tmp_path
    monkeypatch.setenv(testdata.TESTSUITE.variable, str(tmp_path))   # no i32.wast there
    assert testdata.TESTSUITE.find() != tmp_path
