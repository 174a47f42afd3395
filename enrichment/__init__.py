"""Alert enrichment: GeoIP, network labels, AWS context, directories and entity history.

See :class:`enrichment.enricher.Enricher`.
"""

from socbot.enrichment.display import summary_lines
from socbot.enrichment.enricher import Enricher
from socbot.enrichment.errors import SourceUnavailable

__all__ = ["Enricher", "SourceUnavailable", "summary_lines"]
