from __future__ import annotations

import pytest

from datasets_admin.services import ImportReport
from datasets_admin.sight_demo import sight_demo_seed


@pytest.fixture
def sight_demo(db: None) -> ImportReport:
    """The demo's three SIGHT lectures and 93 comments, imported through the upload path (shipped vectors)."""
    report = sight_demo_seed()
    assert report is not None
    return report
