"""The suites: per entity, the batch-level checks that row rules cannot see.

Each check is a Great Expectations expectation whose threshold is a suite parameter
(``{"$PARAMETER": name}``): the suites are fixed, defined here once, and every run passes the values
that come from the batch's history and the run's instant. A check that cannot apply yet (too little
history, too small a batch) gets a threshold that always holds and is reported as skipped.
"""

from __future__ import annotations

from typing import Any

from schemas.standard import ENTITIES, KEY_FIELDS
from validators.expectations.model import SEVERITY_BLOCK, SEVERITY_WARN, CheckSpec

# Columns where a value never sent before by this source means something changed at the source
# (a new channel, a new step, a department it never served) although the value is valid.
DRIFT_COLUMNS: dict[str, tuple[str, ...]] = {
    "department": (),
    "power_item": ("power_type", "state", "time_unit", "dept_code"),
    "case": ("channel", "status", "result", "applicant_type", "applicant_id_type", "dept_code"),
    "case_step": ("step_code",),
    "complaint": ("status", "result", "dept_code"),
}

# Optional fields a source usually fills: when they suddenly come empty, its export lost them.
NULL_WATCH_COLUMNS: dict[str, tuple[str, ...]] = {
    "department": (),
    "power_item": ("legal_limit", "fee"),
    "case": ("result_note", "satisfaction"),
    "case_step": ("opinion", "finished_at"),
    "complaint": ("case_id",),
}

# Entities whose records change every day: their newest updated_at says how fresh an export is.
TRANSACTIONAL = ("case", "case_step", "complaint")

OUTCOME_COLUMN = "_outcome"  # valid / held / quarantined, one row per received record
NOT_QUARANTINED = ("valid", "held")
OUTCOMES = (*NOT_QUARANTINED, "quarantined")


def suite_specs(entity: str) -> tuple[CheckSpec, ...]:
    """The checks of ``entity``'s suite, in the order they are reported."""
    specs = [
        CheckSpec(
            "volume_drop",
            "volume",
            SEVERITY_WARN,
            "expect_table_row_count_to_be_between",
            None,
            "记录数较近期整文件平均值骤降",
            "sudden drop of the record count against recent whole files",
        ),
        CheckSpec(
            "quarantine_rate",
            "quarantine_rate",
            SEVERITY_WARN,
            "expect_column_values_to_be_in_set",
            OUTCOME_COLUMN,
            "隔离记录比例偏高",
            "high share of quarantined records",
        ),
        CheckSpec(
            "quarantine_rate_block",
            "quarantine_rate",
            SEVERITY_BLOCK,
            "expect_column_values_to_be_in_set",
            OUTCOME_COLUMN,
            "隔离记录过半，批次暂停入库",
            "most records quarantined: the batch is held",
        ),
        CheckSpec(
            "duplicate_rate",
            "duplicates",
            SEVERITY_WARN,
            "expect_compound_columns_to_be_unique",
            None,
            "批内同键同版本重复记录比例偏高",
            "high share of records repeating a key and version in the batch",
        ),
        CheckSpec(
            "updated_at_future",
            "future",
            SEVERITY_BLOCK,
            "expect_column_max_to_be_between",
            "updated_at",
            "updated_at 晚于运行时刻，批次暂停入库",
            "updated_at after the run's instant: the batch is held",
        ),
    ]
    if entity in TRANSACTIONAL:
        specs.append(
            CheckSpec(
                "updated_at_stale",
                "stale",
                SEVERITY_WARN,
                "expect_column_max_to_be_between",
                "updated_at",
                "最新 updated_at 过旧",
                "newest updated_at is old: a stale export",
            )
        )
    for column in DRIFT_COLUMNS[entity]:
        specs.append(
            CheckSpec(
                f"new_value:{column}",
                "new_value",
                SEVERITY_WARN,
                "expect_column_values_to_be_in_set",
                column,
                f"{column} 出现该来源从未报送过的代码",
                f"{column}: a value this source never sent before",
            )
        )
    for column in NULL_WATCH_COLUMNS[entity]:
        specs.append(
            CheckSpec(
                f"null_rate:{column}",
                "null_rate",
                SEVERITY_WARN,
                "expect_column_proportion_of_non_null_values_to_be_between",
                column,
                f"{column} 为空的比例骤增",
                f"{column} suddenly empty far more often than usual",
            )
        )
    return tuple(specs)


SUITES: dict[str, tuple[CheckSpec, ...]] = {entity: suite_specs(entity) for entity in ENTITIES}


def frame_columns(entity: str) -> tuple[str, ...]:
    """The columns a batch frame is reduced to for the suite: keys, version, updated_at, watched fields.

    Personal data (names, ID numbers, complaint content) never enters the suite's frame, so no
    Great Expectations result can show it.
    """
    wanted = [*KEY_FIELDS[entity], "version", "updated_at", *DRIFT_COLUMNS[entity], *NULL_WATCH_COLUMNS[entity]]
    return tuple(dict.fromkeys(wanted))


def parameter_name(spec: CheckSpec) -> str:
    return spec.name.replace(":", "__")


def build_suite(entity: str) -> Any:
    """The Great Expectations suite ``sanheyi.{entity}`` with parameterised thresholds."""
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.expectations.row_conditions import Column

    suite = gx.ExpectationSuite(name=f"sanheyi.{entity}")
    for spec in SUITES[entity]:
        param = {"$PARAMETER": parameter_name(spec)}
        common: dict[str, Any] = {
            "meta": {"check": spec.name, "severity": spec.severity},
            "severity": "critical" if spec.severity == SEVERITY_BLOCK else "warning",
            "description": spec.what_en,
        }
        if spec.kind == "volume":
            expectation = gxe.ExpectTableRowCountToBeBetween(min_value=param, **common)
        elif spec.kind == "quarantine_rate":
            expectation = gxe.ExpectColumnValuesToBeInSet(
                column=OUTCOME_COLUMN, value_set=list(NOT_QUARANTINED), mostly=param, **common
            )
        elif spec.kind == "duplicates":
            expectation = gxe.ExpectCompoundColumnsToBeUnique(
                column_list=[*KEY_FIELDS[entity], "version"], mostly=param, **common
            )
        elif spec.kind == "future":
            expectation = gxe.ExpectColumnMaxToBeBetween(column="updated_at", max_value=param, **common)
        elif spec.kind == "stale":
            expectation = gxe.ExpectColumnMaxToBeBetween(column="updated_at", min_value=param, **common)
        elif spec.kind == "new_value":
            expectation = gxe.ExpectColumnValuesToBeInSet(column=spec.column, value_set=param, **common)
        elif spec.kind == "null_rate":
            expectation = gxe.ExpectColumnProportionOfNonNullValuesToBeBetween(
                column=spec.column, min_value=param, row_condition=Column(OUTCOME_COLUMN) != "quarantined", **common
            )
        else:  # pragma: no cover - a spec kind without an expectation is a programming error
            raise ValueError(spec.kind)
        suite.add_expectation(expectation)
    return suite
