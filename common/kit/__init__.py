"""The ``labkit`` harness: manifests, solution regions, the workspace overlay,
``check``/``verify``/``diff`` and the command line (``common.kit.cli``)."""
