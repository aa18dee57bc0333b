"""Pure functions that read items and briefs: no I/O, no database."""
