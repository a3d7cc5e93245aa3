"""Airflow for the DAG tests: its own AIRFLOW_HOME with SQLite metadata, set before airflow is imported."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="sanheyi-airflow-"))
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
if str(DAGS) not in sys.path:  # what Airflow's own processes do for the DAG folder
    sys.path.insert(0, str(DAGS))


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated metadata database (dag.test() records its runs there)."""
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True, env=os.environ.copy())
    return _AIRFLOW_HOME


@pytest.fixture(scope="session")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))
