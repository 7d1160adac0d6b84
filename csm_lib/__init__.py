"""csm_lib: the customer-success workbook's library.

Every metric of the five pillars (acquisition, adoption, retention,
expansion, advocacy) and health, computed from a validated workbook source
for any period and segment.

>>> from csm_lib import Period, Segment
>>> Period.parse("2025-Q4").end
datetime.date(2025, 12, 31)
>>> Segment.parse("segment=SMB").label
'segment=SMB'
"""

import os

# polars allocates with jemalloc, which by default keeps freed pages for 10 s; a
# metric run frees large intermediates one after the other, so that retention is
# most of its peak memory. Returning them after 100 ms costs little time (see
# bench/README.md). Only effective when csm_lib is imported before polars; an
# explicit setting of the variable wins.
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:100,muzzy_decay_ms:0")

from csm_lib.compute import as_dict, compute, load_registry, to_json_obj  # noqa: E402
from csm_lib.data import MissingTableError, Workbook, load  # noqa: E402
from csm_lib.periods import Period, PeriodError, Segment, SegmentError  # noqa: E402
from csm_lib.registry import SPECS, MetricSpec, Value  # noqa: E402


def catalogue() -> dict[str, MetricSpec]:
    """Every declared metric, by id (imports every pillar module).

    >>> "mrr_end" in catalogue()
    True
    """
    return dict(load_registry())


__all__ = [
    "MissingTableError",
    "MetricSpec",
    "Period",
    "PeriodError",
    "SPECS",
    "Segment",
    "SegmentError",
    "Value",
    "Workbook",
    "as_dict",
    "catalogue",
    "compute",
    "load",
    "load_registry",
    "to_json_obj",
]
