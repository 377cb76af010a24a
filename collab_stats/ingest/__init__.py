"""Reading survey-platform exports into the canonical schema (one module per platform)."""
