"""Writing back to submitters by email: acknowledgements, corrections, the relay, texts."""
