"""Generated records are valid against the standard, except the deliberately invalid ones, which
each break the rule family the manifest names."""

from __future__ import annotations

from collections import defaultdict

import pytest
from gen_checker import instant, key_of, record_problems, version_traffic

from simulators.generator import INVALID_FAMILIES, GeneratedData, GeneratorError, GeneratorSpec, generate


def _catalogue(data: GeneratedData) -> tuple[dict[str, dict], set[str]]:
    return {i["power_code"]: i for i in data.records["power_item"]}, {
        d["dept_code"] for d in data.records["department"]
    }


def test_every_regular_and_update_record_is_valid(data: GeneratedData) -> None:
    items, depts = _catalogue(data)
    checked = 0
    for source in (data.records, data.updates):
        for entity, recs in source.items():
            for rec in recs:
                problems = record_problems(entity, rec, items, depts)
                assert not problems, (entity, key_of(entity, rec), problems)
                checked += 1
    assert checked > 12_000


def test_cross_record_rules_hold_for_the_latest_versions(data: GeneratedData) -> None:
    snapshot = data.spec.snapshot
    cases = {key_of("case", c): c for c in data.latest("case")}
    steps = defaultdict(list)
    for s in data.latest("case_step"):
        steps[(s["source_system"], s["case_id"])].append(s)
    assert set(steps) == set(cases)  # every case has steps, no step without its case
    for key, case in cases.items():
        recv = instant(case["received_at"])
        assert data.spec.start <= recv.date() <= data.spec.end
        nos = sorted(s["step_no"] for s in steps[key])
        assert nos == list(range(1, len(nos) + 1))
        for s in steps[key]:
            assert instant(s["started_at"]) >= recv
            done = instant(s["finished_at"]) if s["finished_at"] else instant(s["started_at"])
            assert instant(s["updated_at"]) >= done
            assert instant(s["updated_at"]) <= snapshot
        last = instant(case["finished_at"]) if case["finished_at"] else recv
        assert last <= instant(case["updated_at"]) <= snapshot
    for c in data.latest("complaint"):
        if c["case_id"] is not None:
            case = cases[(c["case_source_system"], c["case_id"])]
            assert instant(c["received_at"]) >= instant(case["received_at"])
            assert c["dept_code"] == case["dept_code"]
        assert instant(c["updated_at"]) <= snapshot
    ids = [c["complaint_id"] for c in data.records["complaint"]]
    assert len(ids) == len(set(ids))


def test_regular_files_hold_each_key_once(data: GeneratedData) -> None:
    for entity, recs in data.records.items():
        keys = [key_of(entity, r) for r in recs]
        assert len(keys) == len(set(keys)), entity


def test_invalid_records_each_break_the_family_the_manifest_names(data: GeneratedData) -> None:
    items, depts = _catalogue(data)
    assert len(data.invalid["case"]) == len(data.manifest) == data.spec.invalid_cases
    assert {m.rule_family for m in data.manifest} == set(INVALID_FAMILIES)
    traffic = version_traffic("case", [*data.records["case"], *data.invalid["case"]])
    for rec, entry in zip(data.invalid["case"], data.manifest, strict=True):
        assert entry.entity == "case"
        assert entry.key == (rec["source_system"], rec["case_id"])
        if entry.rule_family == "VERSION_CONFLICT":
            assert not record_problems("case", rec, items, depts)
            assert traffic["conflict"] == [entry.key]
        else:
            assert record_problems("case", rec, items, depts) == {entry.rule_family}, entry


def test_more_invalid_records_vary_within_each_family() -> None:
    data = generate(GeneratorSpec(cases=600, complaints=10, invalid_cases=36))
    items, depts = _catalogue(data)
    by_family = defaultdict(list)
    for rec, entry in zip(data.invalid["case"], data.manifest, strict=True):
        by_family[entry.rule_family].append(rec)
        if entry.rule_family != "VERSION_CONFLICT":
            assert record_problems("case", rec, items, depts) == {entry.rule_family}
    assert all(len(v) == 3 for v in by_family.values())
    naive_fields = {
        next(f for f in ("received_at", "finished_at", "updated_at") if "+" not in r[f])
        for r in by_family["NAIVE_DATETIME"]
    }
    assert naive_fields == {"received_at", "finished_at", "updated_at"}
    assert {r["applicant_id_type"] for r in by_family["ID_CHECKDIGIT"]} == {"SFZ", "USCC"}


def test_version_traffic_is_what_the_counts_say(data: GeneratedData) -> None:
    for entity in ("case", "case_step"):
        stream = [*data.records[entity], *data.invalid.get(entity, []), *data.updates[entity]]
        traffic = version_traffic(entity, stream)
        counts = data.counts[entity]
        assert counts["sent"] == len(stream)
        assert len(traffic["duplicate"]) == counts["duplicate"] > 0
        assert len(traffic["stale"]) == counts["stale"]
        conflicts = [m.key for m in data.manifest if m.entity == entity and m.rule_family == "VERSION_CONFLICT"]
        assert traffic["conflict"] == conflicts
        bad = {m.key for m in data.manifest if m.rule_family != "VERSION_CONFLICT"}
        latest = {key_of(entity, r): r for r in traffic["latest"] if key_of(entity, r) not in bad}
        assert len(latest) == counts["keys"]
        assert {key_of(entity, r) for r in data.latest(entity)} == set(latest)
    assert data.counts["case"]["stale"] > 0


def test_later_versions_are_written_later(data: GeneratedData) -> None:
    first = {key_of("case", c): c for c in data.records["case"]}
    later = [u for u in data.updates["case"] if u["version"] > first[key_of("case", u)]["version"]]
    assert len(later) > 50
    for u in later:
        v1 = first[key_of("case", u)]
        assert instant(u["updated_at"]) > instant(v1["updated_at"])
        assert u["received_at"] == v1["received_at"] and u["applicant_id_no"] == v1["applicant_id_no"]
    # some were first sent while in progress and completed later, others were corrected
    assert any(first[key_of("case", u)]["status"] == "IN_PROGRESS" for u in later)
    assert any(first[key_of("case", u)]["status"] == "COMPLETED" for u in later)


def test_same_seed_gives_the_same_data_another_seed_other_data() -> None:
    spec = GeneratorSpec(cases=300, complaints=20)
    a, b = generate(spec), generate(spec)
    assert a == b
    c = generate(GeneratorSpec(seed=spec.seed + 1, cases=300, complaints=20))
    assert [r["applicant_id_no"] for r in c.records["case"]] != [r["applicant_id_no"] for r in a.records["case"]]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"departments": 5},
        {"departments": 23},
        {"items_per_department": 1},
        {"cases": -1},
        {"end": GeneratorSpec().start.replace(day=1).replace(month=1)},
        {"source_system": "bad code!"},
    ],
)
def test_specs_out_of_range_are_refused(kwargs: dict) -> None:
    with pytest.raises(GeneratorError, match="invalid generator spec"):
        generate(GeneratorSpec(**kwargs))
