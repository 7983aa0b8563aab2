"""General-purpose node types: replay, filter, switch, change, and the log, file and discard sinks."""
