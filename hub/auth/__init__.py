"""Operator accounts, server-side sessions, CSRF protection and camera device tokens."""
