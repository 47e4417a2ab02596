"""Running the work: options, conventions, the unit of work, executors, score and batch."""
