"""The path of every item: accept it durably, then process it (parse, store media, match)."""
