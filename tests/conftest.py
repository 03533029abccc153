import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# No timing in tests: hypothesis' per-example deadline and its "input generation is slow" check depend on the
# machine's load (CI shares 2 cores), so both are off; the number of examples stays hypothesis' default.
settings.register_profile("sleitp", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("sleitp")

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SPEC_EXAMPLES = SHARED / "spec" / "examples"
SHARED_DATA = SHARED / "data"


@pytest.fixture
def write_json(tmp_path):
    """Write an object as a JSON file and return its path."""
    def _write(obj, name="record.json"):
        p = tmp_path / name
        p.write_text(json.dumps(obj) if not isinstance(obj, str) else obj)
        return p
    return _write
