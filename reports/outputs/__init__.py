"""Figure and table functions called by the report notebooks' code cells, one module per report."""
