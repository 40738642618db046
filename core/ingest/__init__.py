"""All-or-nothing imports into the store (DESIGN.md, "Input files").

Each import reads its file in chunks, validates every row, and raises ``ImportValidationError`` listing
row numbers and reasons before anything is written; only then does it write, in one transaction.
``readers`` reads the formats, ``validation`` holds what every import shares, and ``products``,
``judgments`` and ``querylog`` are the three imports (``judgments`` also reads multi-rater files).
"""

from core.ingest.judgments import import_judgments, read_judgments, read_ratings
from core.ingest.products import PRODUCT_FIELDS, import_products
from core.ingest.querylog import import_queries
from core.ingest.validation import ImportReport

__all__ = ["PRODUCT_FIELDS", "ImportReport", "import_judgments", "import_products", "import_queries", "read_judgments",
           "read_ratings"]
