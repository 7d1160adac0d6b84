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

from csm_lib.compute import as_dict, compute, load_registry, to_json_obj
from csm_lib.data import MissingTableError, Workbook, load
from csm_lib.periods import Period, PeriodError, Segment, SegmentError
from csm_lib.registry import SPECS, MetricSpec, Value


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
