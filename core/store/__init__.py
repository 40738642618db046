"""The store's queries: the only code besides ``core.ingest`` and ``core.campaigns`` that touches ``db``.

``session`` resolves the configured URL for ``db`` (which knows no settings); ``labels`` holds the
labels-in-force query, ``predictions`` the stored model predictions, ``users`` and ``auth`` the
accounts, ``datasets`` the data-set names and overview counts, ``catalog`` the catalog load.
"""
