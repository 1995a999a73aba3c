"""Internals of ``aiguard.tokens``: encodings, chat counting rules, the price table."""
