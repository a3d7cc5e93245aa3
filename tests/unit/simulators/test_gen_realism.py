"""The generated data look like Liyang's and give the supervision rules something to find."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import time

from gen_checker import deadline_and_elapsed, instant, is_workday, local_date, money_cents
from stdnum.cn import uscc

from simulators.generator import GeneratedData, GeneratorSpec, generate

POWER_TYPES = {"XK", "SP", "CF", "QZ", "ZS", "QR", "CJ", "JC", "GF", "ZY", "JL", "QT"}


def test_departments_are_liyang_bureaus_with_government_credit_codes(data: GeneratedData) -> None:
    depts = data.records["department"]
    names = [d["name"] for d in depts]
    assert len(depts) == 8
    assert names[:3] == ["溧阳市市场监督管理局", "溧阳市公安局", "溧阳市财政局"]
    assert "溧阳市人力资源和社会保障局" in names
    for d in depts:
        assert uscc.is_valid(d["dept_code"]) and d["dept_code"].startswith("11320481")
    assert len({d["dept_code"] for d in depts}) == 8


def test_catalogue_covers_every_power_type_with_sound_codes_and_limits(data: GeneratedData) -> None:
    items = data.records["power_item"]
    dept_no = {d["dept_code"]: i + 1 for i, d in enumerate(data.records["department"])}
    assert {i["power_type"] for i in items} == POWER_TYPES
    assert Counter(i["state"] for i in items) == {"A": 48, "T": 1, "X": 1}
    for i in items:
        code = i["power_code"]
        assert code[:2] == i["power_type"] and code[2:8] == "320481"
        assert int(code[8:11]) == dept_no[i["dept_code"]]
        if i["legal_limit"] is not None:
            assert i["promised_limit"] <= i["legal_limit"]
        assert (i["penalty_min"] is not None) == (i["power_type"] == "CF")
        if i["penalty_min"]:
            assert money_cents(i["penalty_min"]) <= money_cents(i["penalty_max"])
    names = {i["name"] for i in items}
    assert {"食品经营许可", "建设工程规划许可证核发", "对未取得食品经营许可从事食品经营活动的行政处罚"} <= names
    assert Counter(i["time_unit"] for i in items)["CD"] >= 5
    assert sum(i["fee"] is not None for i in items) >= 2
    flows = {i["power_type"]: i["flow"] for i in items}
    assert flows["CF"] == ["LA", "DC", "GZ", "JD", "ZX"]
    assert flows["XK"][:4] == ["SL", "SH", "PZ", "BJ"]


def test_large_catalogues_use_sub_items() -> None:
    data = generate(GeneratorSpec(departments=12, items_per_department=12, cases=50, complaints=0, invalid_cases=0))
    items = [i for i in data.records["power_item"] if i["state"] == "A"]
    assert len(items) == 144
    assert len({i["power_code"] for i in data.records["power_item"]}) == len(data.records["power_item"])
    subs = [i for i in items if not i["power_code"].endswith("000")]
    assert subs and any(i["name"] == "食品经营许可（新办）" for i in subs)
    for s in subs:  # a sub-item shares its item's number
        assert any(i["power_code"] == s["power_code"][:-3] + "000" for i in items)


def test_cases_mix_statuses_results_ratings_and_applicants(data: GeneratedData) -> None:
    cases = data.latest("case")
    status = Counter(c["status"] for c in cases)
    assert set(status) == {"IN_PROGRESS", "COMPLETED", "WITHDRAWN", "TERMINATED"}
    assert status["COMPLETED"] > 0.8 * len(cases)
    done = [c for c in cases if c["status"] == "COMPLETED"]
    assert set(Counter(c["result"] for c in done)) == {"GRANTED", "PARTIAL", "DENIED"}
    assert set(Counter(c["satisfaction"] for c in done)) == {"S", "B", "U", None}
    assert Counter(c["applicant_type"] for c in cases).keys() == {"1", "2"}
    sfz = [c["applicant_id_no"] for c in cases if c["applicant_id_type"] == "SFZ"]
    assert sum(n.startswith("320481") for n in sfz) > 0.7 * len(sfz)
    orgs = [c for c in cases if c["applicant_type"] == "2"]
    assert all(c["applicant_id_type"] == "USCC" and uscc.is_valid(c["applicant_id_no"]) for c in orgs)
    assert any(c["applicant_name"].endswith("有限公司") for c in orgs)
    persons = [c["applicant_name"] for c in cases if c["applicant_type"] == "1"]
    assert all(2 <= len(n) <= 3 for n in persons)
    items = {i["power_code"]: i for i in data.records["power_item"]}
    assert any(c["promised_limit"] < items[c["power_code"]]["promised_limit"] for c in cases)
    assert Counter(c["version"] for c in cases)[1] > 0.85 * len(cases)


def test_counter_cases_are_received_on_workdays_in_office_hours(data: GeneratedData) -> None:
    counter = [c for c in data.records["case"] if c["channel"] != "2"]
    online = [c for c in data.records["case"] if c["channel"] == "2"]
    for c in counter:
        at = instant(c["received_at"])
        assert is_workday(at.date()) and time(8, 30) <= at.time() <= time(17, 30), c["received_at"]
        assert c["received_at"].endswith("+08:00")
    assert any(not is_workday(local_date(c["received_at"])) for c in online)


def test_most_cases_finish_on_time_some_early_some_overdue(data: GeneratedData) -> None:
    items = {i["power_code"]: i for i in data.records["power_item"]}
    steps = defaultdict(list)
    for s in data.latest("case_step"):
        steps[s["case_id"]].append(s)
    done = [c for c in data.latest("case") if c["status"] == "COMPLETED"]
    on_time = early = 0
    for c in done:
        deadline, elapsed = deadline_and_elapsed(c, items[c["power_code"]], steps[c["case_id"]], data.spec.end)
        on_time += local_date(c["finished_at"]) <= deadline
        early += elapsed < c["promised_limit"]
    assert 0.85 < on_time / len(done) < 0.97
    assert early / len(done) > 0.4


def test_supervision_rules_have_something_to_find(data: GeneratedData) -> None:
    items = {i["power_code"]: i for i in data.records["power_item"]}
    steps = defaultdict(list)
    for s in sorted(data.latest("case_step"), key=lambda s: s["step_no"]):
        steps[s["case_id"]].append(s)
    cases = data.latest("case")
    found = Counter()
    for c in cases:
        item, ss = items[c["power_code"]], steps[c["case_id"]]
        flow = item["flow"]
        codes = [s["step_code"] for s in ss]
        found["suspended"] += any(x in ("TB", "BZ") for x in codes)
        if c["status"] == "IN_PROGRESS":
            deadline, _ = deadline_and_elapsed(c, item, ss, data.spec.end)
            found["open_overdue"] += deadline < data.spec.end
            continue
        if c["status"] != "COMPLETED":
            continue
        found["LC01"] += any(x not in codes for x in flow)
        pos = [flow.index(x) for x in codes if x in flow]
        starts = [instant(s["started_at"]) for s in ss]
        found["LC02"] += pos != sorted(pos) or starts != sorted(starts)
        found["LC03"] += c["result"] == "DENIED" and not c["result_note"]
        fee, paid = item["fee"], money_cents(c["fee_paid"])
        found["relief"] += c["relief_reason"] is not None
        found["NR01"] += (fee is None and paid > 0) or (
            fee is not None and (paid > money_cents(fee) or (paid < money_cents(fee) and not c["relief_reason"]))
        )
        if c["penalty_amount"] is not None and item["penalty_min"]:
            p = money_cents(c["penalty_amount"])
            found["CL01"] += not money_cents(item["penalty_min"]) <= p <= money_cents(item["penalty_max"])
            found["penalised"] += 1
    n = len(cases)
    for rule in ("LC01", "LC02", "LC03", "NR01", "CL01", "open_overdue", "relief"):
        assert 1 <= found[rule] < 0.1 * n, (rule, found)
    assert 0.1 * n < found["suspended"] < 0.4 * n
    assert found["penalised"] > 20


def test_complaints_are_linked_or_not_open_or_closed(data: GeneratedData) -> None:
    comps = data.records["complaint"]
    assert len(comps) == 150
    linked = [c for c in comps if c["case_id"]]
    assert 0.4 * len(comps) < len(linked) < 0.8 * len(comps)
    assert Counter(c["status"] for c in comps).keys() == {"OPEN", "CLOSED"}
    closed = [c for c in comps if c["status"] == "CLOSED"]
    assert set(Counter(c["result"] for c in closed)) == {"SUBSTANTIATED", "PARTIAL", "UNFOUNDED"}
    late = 0
    for c in comps:
        r, d, k = local_date(c["received_at"]), local_date(c["received_at"]), 0
        while k < 10:
            d = d.fromordinal(d.toordinal() + 1)
            k += is_workday(d)
        end = local_date(c["closed_at"]) if c["closed_at"] else data.spec.end
        late += end > d
        assert r <= end
    assert 1 <= late < 0.4 * len(comps)


def test_steps_average_about_the_requested_number(data: GeneratedData) -> None:
    ratio = len(data.latest("case_step")) / len(data.latest("case"))
    assert 4.5 < ratio < 5.5
    more = generate(GeneratorSpec(cases=1500, steps_per_case=7, complaints=0, invalid_cases=0))
    assert len(more.latest("case_step")) / 1500 > 6.2


def test_enforcement_cases_read_like_enforcement(data: GeneratedData) -> None:
    items = {i["power_code"]: i for i in data.records["power_item"]}
    cf = [c for c in data.latest("case") if items[c["power_code"]]["power_type"] == "CF"]
    assert len(cf) > 50
    for c in cf:
        assert c["channel"] == "9" and c["fee_paid"] == "0"
        assert "许可" not in (c["result_note"] or "") and "补正" not in (c["result_note"] or "")
        assert (c["penalty_amount"] is not None) == (c["status"] == "COMPLETED" and c["result"] != "DENIED")
    others = [c for c in data.latest("case") if items[c["power_code"]]["power_type"] not in ("CF", "QZ", "JC", "ZY")]
    rated = sum(c["satisfaction"] is not None for c in others if c["status"] == "COMPLETED")
    rated_cf = sum(c["satisfaction"] is not None for c in cf if c["status"] == "COMPLETED")
    done_cf = sum(c["status"] == "COMPLETED" for c in cf)
    assert rated_cf / done_cf < rated / sum(c["status"] == "COMPLETED" for c in others)


def test_departments_differ_in_how_well_they_do() -> None:
    data = generate(GeneratorSpec(cases=6000, complaints=0, invalid_cases=0))
    items = {i["power_code"]: i for i in data.records["power_item"]}
    steps = defaultdict(list)
    for s in data.latest("case_step"):
        steps[s["case_id"]].append(s)
    late, done = Counter(), Counter()
    for c in data.latest("case"):
        if c["status"] != "COMPLETED":
            continue
        deadline, _ = deadline_and_elapsed(c, items[c["power_code"]], steps[c["case_id"]], data.spec.end)
        done[c["dept_code"]] += 1
        late[c["dept_code"]] += local_date(c["finished_at"]) > deadline
    shares = sorted(late[d] / done[d] for d in done)
    assert shares[-1] > 3 * shares[0]
