"""Interview mode: timed drills and mock rounds (issue 14).

Harness code like ``common.kit``: it may import ``common.kit``, and imports a
lab only inside a function. The rounds (``labkit interview design|stats|ml``)
are built from ``question`` and ``bank`` (questions kept beside each lab),
``formula`` (their arithmetic), ``figures`` (the candidate's own results),
``grading``, ``scenarios``, the generated ``stats_problems`` and
``ml_problems``, and ``rounds``, ``session`` and ``record`` (assemble the
round, ask or grade it, write its page).
"""
