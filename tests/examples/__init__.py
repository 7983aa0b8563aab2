"""Every example runs through flowengine test."""
