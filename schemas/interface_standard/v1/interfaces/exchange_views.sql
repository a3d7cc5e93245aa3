-- 溧阳市"三合一"数据接口标准 第1版 — 前置库交换视图 (interface type "sql")
-- Liyang Interface Standard v1 — exchange views of a 前置库 (front database).
--
-- A self-built system publishes one view per entity it sends (case and case_step; the unified
-- platform also department, power_item and complaint). The view's name and its column names and
-- types are the contract. The tables below are a reference layout: a department may fill them,
-- or keep its own tables and define the views over them with these columns.
--
-- Rules:
--   * one row per record key, holding its latest version
--   * updated_at is set by the source on every change, with version raised by at least 1
--   * the hub reads WHERE updated_at >= (last cursor - 5 minutes) ORDER BY updated_at, version, key
--     so an index on (updated_at, version, key) is required for large tables
--   * TIMESTAMP WITH TIME ZONE columns hold instants; a database without time zones stores UTC
--   * NUMERIC(15,2) money in yuan; flow is the JSON array text of step codes, e.g. ["SL","BJ"]
--   * the hub's account needs SELECT on the views only; the password is stored as a credential
--
-- Generated from the JSON Schemas of the standard (connectors/sql_view.py render_exchange_ddl).

CREATE TABLE sanheyi_department (
    dept_code VARCHAR(64) NOT NULL,
    name TEXT NOT NULL,
    source_system VARCHAR(64) NOT NULL,
    version INTEGER NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY (dept_code)
);
CREATE INDEX ix_sanheyi_department_cursor ON sanheyi_department (updated_at, version, dept_code);
CREATE VIEW v_sanheyi_department AS SELECT dept_code, name, source_system, version, updated_at FROM sanheyi_department;

CREATE TABLE sanheyi_power_item (
    power_code VARCHAR(64) NOT NULL,
    name TEXT NOT NULL,
    power_type VARCHAR(64) NOT NULL,
    dept_code VARCHAR(64) NOT NULL,
    legal_basis TEXT NOT NULL,
    legal_limit INTEGER,
    promised_limit INTEGER NOT NULL,
    time_unit VARCHAR(64) NOT NULL,
    fee NUMERIC(15,2),
    penalty_min NUMERIC(15,2),
    penalty_max NUMERIC(15,2),
    flow TEXT NOT NULL,
    state VARCHAR(64) NOT NULL,
    source_system VARCHAR(64) NOT NULL,
    version INTEGER NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY (power_code)
);
CREATE INDEX ix_sanheyi_power_item_cursor ON sanheyi_power_item (updated_at, version, power_code);
CREATE VIEW v_sanheyi_power_item AS SELECT power_code, name, power_type, dept_code, legal_basis, legal_limit, promised_limit, time_unit, fee, penalty_min, penalty_max, flow, state, source_system, version, updated_at FROM sanheyi_power_item;

CREATE TABLE sanheyi_case (
    source_system VARCHAR(64) NOT NULL,
    case_id VARCHAR(64) NOT NULL,
    power_code VARCHAR(64) NOT NULL,
    dept_code VARCHAR(64) NOT NULL,
    applicant_type VARCHAR(64) NOT NULL,
    applicant_name TEXT NOT NULL,
    applicant_id_type VARCHAR(64) NOT NULL,
    applicant_id_no VARCHAR(64) NOT NULL,
    channel VARCHAR(64) NOT NULL,
    received_at TIMESTAMP WITH TIME ZONE NOT NULL,
    promised_limit INTEGER NOT NULL,
    status VARCHAR(64) NOT NULL,
    finished_at TIMESTAMP WITH TIME ZONE,
    result VARCHAR(64),
    result_note TEXT,
    fee_paid NUMERIC(15,2) NOT NULL,
    relief_reason TEXT,
    penalty_amount NUMERIC(15,2),
    satisfaction VARCHAR(64),
    version INTEGER NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY (source_system, case_id)
);
CREATE INDEX ix_sanheyi_case_cursor ON sanheyi_case (updated_at, version, source_system, case_id);
CREATE VIEW v_sanheyi_case AS SELECT source_system, case_id, power_code, dept_code, applicant_type, applicant_name, applicant_id_type, applicant_id_no, channel, received_at, promised_limit, status, finished_at, result, result_note, fee_paid, relief_reason, penalty_amount, satisfaction, version, updated_at FROM sanheyi_case;

CREATE TABLE sanheyi_case_step (
    source_system VARCHAR(64) NOT NULL,
    case_id VARCHAR(64) NOT NULL,
    step_no INTEGER NOT NULL,
    step_code VARCHAR(64) NOT NULL,
    handler_id VARCHAR(64) NOT NULL,
    handler_name TEXT NOT NULL,
    started_at TIMESTAMP WITH TIME ZONE NOT NULL,
    finished_at TIMESTAMP WITH TIME ZONE,
    opinion TEXT,
    version INTEGER NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY (source_system, case_id, step_no)
);
CREATE INDEX ix_sanheyi_case_step_cursor ON sanheyi_case_step (updated_at, version, source_system, case_id, step_no);
CREATE VIEW v_sanheyi_case_step AS SELECT source_system, case_id, step_no, step_code, handler_id, handler_name, started_at, finished_at, opinion, version, updated_at FROM sanheyi_case_step;

CREATE TABLE sanheyi_complaint (
    complaint_id VARCHAR(64) NOT NULL,
    case_source_system VARCHAR(64),
    case_id VARCHAR(64),
    dept_code VARCHAR(64) NOT NULL,
    received_at TIMESTAMP WITH TIME ZONE NOT NULL,
    status VARCHAR(64) NOT NULL,
    closed_at TIMESTAMP WITH TIME ZONE,
    result VARCHAR(64),
    content TEXT NOT NULL,
    source_system VARCHAR(64) NOT NULL,
    version INTEGER NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY (complaint_id)
);
CREATE INDEX ix_sanheyi_complaint_cursor ON sanheyi_complaint (updated_at, version, complaint_id);
CREATE VIEW v_sanheyi_complaint AS SELECT complaint_id, case_source_system, case_id, dept_code, received_at, status, closed_at, result, content, source_system, version, updated_at FROM sanheyi_complaint;
