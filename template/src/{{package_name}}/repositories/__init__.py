"""Data access: queries and writes; never a commit (services own transactions)."""
