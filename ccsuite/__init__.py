"""Tooling for the contact-center suite: database set-up, demo data, translations."""
