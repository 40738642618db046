"""Model cards: ``common`` (machine, SVG line chart, section splicing), ``teacher``, ``student`` and
``cv_report`` (the teacher's cross-validation section)."""
