"""Sigma rules imported as socbot rules (``socbot rules import-sigma``): compiled with pySigma,
kept in Redis, staged (counted, not posted) until ``socbot rules promote``."""
