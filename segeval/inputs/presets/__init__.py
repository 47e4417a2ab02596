"""Built-in class definitions (``--preset``), one JSON file each."""
