"""The conversation with field workers, for every chat app: binding, questions, replies."""
