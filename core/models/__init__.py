"""The models, knowing nothing of the store: ``base`` (the Scorer interface), ``registry`` (a table of
factories by short name), ``rankers`` (bm25, random, embedding cosines), ``embeddings``/``e5`` (sentence
encoders), ``features`` (the student's features), ``captions``, ``student`` and the ``teacher`` package."""
