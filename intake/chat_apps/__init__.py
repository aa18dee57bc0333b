"""Each chat app wired to the chat core: its settings, its transport, its parser, its role."""
