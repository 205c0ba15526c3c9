"""Segments and life-cycle stages: the attribute base, derived columns, membership history.

See :mod:`cvm.segments.attributes` (what every expression can read),
:mod:`cvm.segments.compute` (stage, value × risk cell and named segments) and
:mod:`cvm.segments.refresh` (the stored history and who entered or left).
"""

from cvm.segments.attributes import base_columns, base_query, build_base
from cvm.segments.compute import SegmentModel
from cvm.segments.refresh import SegmentReport, compute_membership, refresh_segments, segment_base

__all__ = [
    "SegmentModel",
    "SegmentReport",
    "base_columns",
    "base_query",
    "build_base",
    "compute_membership",
    "refresh_segments",
    "segment_base",
]
