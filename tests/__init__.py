"""The flowengine test suite."""
