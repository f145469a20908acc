"""zoo's test kit: local hub servers and helpers for testing zoo and zoo plugins offline."""
