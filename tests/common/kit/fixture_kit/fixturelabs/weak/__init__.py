"""A lab whose only test cannot fail: verify must reject it."""
