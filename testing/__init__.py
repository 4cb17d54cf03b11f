"""`from refad.testing import assert_parity`: the parity suite's short public path.

This folder installs as `refad.testing`, above reports in the layer order (it imports
`refad.reports.parity`, and nothing imports it), so the engine itself never imports upward.
"""

from refad.reports.parity import assert_parity, format_rows

__all__ = ["assert_parity", "format_rows"]
