"""intake: email and chat intake bot for calls for innovative practices."""

__version__ = "0.1.0"
