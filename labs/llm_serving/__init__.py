"""Lab 11 `llm_serving` (placeholder docstring, replaced below)."""
