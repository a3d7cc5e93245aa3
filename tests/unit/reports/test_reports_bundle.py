"""The bundle is checked up front: every problem listed in one clear error, before anything is written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from openpyxl import load_workbook
from rp_bundles import make_bundle

from reports import ReportBundleError, ReportFormatError, check_bundle, render_report
from schemas.errors import DataError, HubError


def _summary(bundle: dict[str, Any], out: Path) -> dict[str, list[Any]]:
    """The 汇总 sheet of the rendered workbook: label → the cells of its row."""
    files = render_report(bundle, out, formats=("xlsx",))
    assert files.xlsx is not None and files.html is None
    sheet = load_workbook(files.xlsx)["汇总"]
    return {row[0].value: list(row[1:]) for row in sheet.iter_rows(min_row=3) if row[0].value}


def test_the_example_bundle_is_valid_and_checking_leaves_it_as_given(bundle: dict[str, Any]) -> None:
    assert check_bundle(bundle) is None
    assert bundle == make_bundle()


def test_every_problem_is_listed_in_one_error(bundle: dict[str, Any], tmp_path: Path) -> None:
    bundle["statistics"]["period"]["to"] = "2026-10-32"
    bundle["statistics"]["total"]["received"] = "21"
    bundle["events"][2]["card"] = "GREEN"
    bundle["events"][3]["event_date"] = "10/03/2026"
    bundle["quarantine"][0]["rules"] = "V_REQUIRED"
    bundle["data_cutoff"] = "2026-11-06T17:58:00"  # no offset
    with pytest.raises(ReportBundleError) as err:
        render_report(bundle, tmp_path / "out")
    message = err.value.message
    for fragment in (
        "statistics.period",
        "statistics.total.received",
        "events[2].card",
        "events[3].event_date",
        "quarantine[0].rules",
        "data_cutoff",
    ):
        assert fragment in message
    assert "\n" not in message
    assert isinstance(err.value, HubError) and isinstance(err.value, DataError)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("head", ["4", "0:" + "a" * 64, "4:" + "a" * 63, "4:" + "A" * 64, 4])
def test_a_malformed_decision_log_head_is_refused(bundle: dict[str, Any], head: object) -> None:
    # A head printed wrong could never be checked later: refuse it rather than print it.
    bundle["decision_log_head"] = head
    with pytest.raises(ReportBundleError, match="decision_log_head"):
        check_bundle(bundle)


def test_a_bundle_without_decision_log_head_renders_without_one(bundle: dict[str, Any], tmp_path: Path) -> None:
    del bundle["decision_log_head"]  # a caller from before the head was printed
    assert _summary(bundle, tmp_path)["审批日志链头"][0].value == "无（尚无审批记录）"


def test_missing_provisional_flag_is_refused(bundle: dict[str, Any]) -> None:
    # A report must never pass a provisional calendar off as official: the flag is required.
    del bundle["statistics"]["provisional"]
    with pytest.raises(ReportBundleError, match="含推定日历"):
        check_bundle(bundle)


def test_numpy_numbers_are_accepted_and_printed_as_numbers(bundle: dict[str, Any], tmp_path: Path) -> None:
    total = bundle["statistics"]["total"]
    total["received"] = np.int64(total["received"])
    total["on_time_rate"] = np.float64(total["on_time_rate"])
    summary = _summary(bundle, tmp_path)
    received, on_time = summary["受理件数"][0], summary["按时办结率"][0]
    assert (type(received.value), received.value) == (int, 21)
    assert type(on_time.value) is float and on_time.value == pytest.approx(0.619)
    assert on_time.number_format == "0.00%"


def test_previous_statistics_may_be_absent(bundle: dict[str, Any], tmp_path: Path) -> None:
    bundle["previous_statistics"] = None
    summary = _summary(bundle, tmp_path)
    assert summary["对比上期"][0].value == "无"
    assert [summary["受理件数"][i].value for i in (0, 1, 2)] == [21, None, None]  # no previous figure, no change


def test_unknown_format_is_refused(bundle: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(ReportFormatError, match="docx"):
        render_report(bundle, tmp_path, formats=("html", "docx"))
    with pytest.raises(ReportFormatError):
        render_report(bundle, tmp_path, formats=())
