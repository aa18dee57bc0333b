"""Email intake on intake's side: IMAP mailboxes, their checkpoints and the serve role."""
