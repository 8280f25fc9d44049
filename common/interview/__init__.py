"""Interview mode: timed drills cut from the solution regions, and mock rounds.

Harness code like ``common.kit``: it may import ``common.kit``, and imports a
lab only inside a function.

Drills (``labkit drill ...``) and the coding round:

- ``state``: the one progress file, ``<workspace>/.labkit/interview.json``.
- ``catalog``: every drill (a region, a milestone or a module) and its target time.
- ``task``: what a candidate reads when a drill starts.
- ``schedule``: when a drill is due again (FSRS, through the ``fsrs`` package).
- ``copies``: a drill's own copy of its lab, and its comparison with the reference.
- ``drills``: start, check, hint and give up a drill (a session on the clock).
- ``coding``: the coding round, two due drills under one clock.

Mock rounds (``labkit interview design|stats|ml``) are built from
``question`` and ``bank`` (questions kept beside each lab), ``formula``
(their arithmetic), ``figures`` (the candidate's own results), ``grading``,
``scenarios``, the generated ``stats_problems`` and ``ml_problems``, and
``rounds``, ``session`` and ``record`` (assemble the round, ask or grade it,
write its page).
"""
