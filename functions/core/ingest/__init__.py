"""Turning a movie CSV file into catalogue rows: the header and row parsing (parsing), the
acceptance of a file from any door (intake) and the pipeline that validates, stages and
publishes it (pipeline)."""
