"""Files segeval writes: atomic replacement and the streamed per-image table."""
