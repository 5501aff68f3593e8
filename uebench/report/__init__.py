"""The report: figures and one static HTML page rendered from the records."""
