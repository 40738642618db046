"""Text handling shared by every layer: ``queries`` (cleaning, ids), ``language`` (detection),
``tokenize`` (words for BM25 and matching, CJK bigrams) and ``pin`` (a product's text within a budget)."""
