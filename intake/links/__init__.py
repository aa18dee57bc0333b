"""Link fetching: the files behind shared links (Drive, Dropbox, WeTransfer…) into the store."""
