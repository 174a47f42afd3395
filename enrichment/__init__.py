"""Alert enrichment: GeoIP, network labels, AWS context, directories and entity history.

See :class:`enrichment.enricher.Enricher`.
"""

from enrichment.display import summary_lines
from enrichment.enricher import Enricher
from enrichment.errors import SourceUnavailable

__all__ = ["Enricher", "SourceUnavailable", "summary_lines"]
