"""What is done with stored media: video details, exports, the links kit."""
