"""A toy lab with three milestones."""
