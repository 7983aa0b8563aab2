"""Tests of the stream nodes."""
