"""Built-in node types of flowengine, registered through the ``flowengine.nodes`` entry points."""
