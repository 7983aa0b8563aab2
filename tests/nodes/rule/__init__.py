"""Tests of the rule node."""
