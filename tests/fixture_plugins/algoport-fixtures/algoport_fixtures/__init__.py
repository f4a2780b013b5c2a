"""Test algorithms for algoport's own test suite."""
