"""``course similarity``: which submissions of a class share code beyond the starter code, seen through
the usual disguises; :mod:`.tokens` (normalised tokens), :mod:`.fingerprints` (k-grams, winnowing),
:mod:`.index` (the class's inverted index, the measures of a pair), :mod:`.corpus` (reading a class
through the grader's safe reader), :mod:`.report` (``pairs.csv``, ``clusters.csv``, ``report.html``)."""
