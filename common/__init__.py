"""What several labs share: the ShopStream data, timing, results pages, and the
``labkit`` harness (``common.kit``)."""
