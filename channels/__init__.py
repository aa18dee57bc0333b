"""Transports only: they turn protocol traffic into a RawItem and hand it to accept."""
