"""The study catalog: one module per study, each exposing a module-level ``STUDY``."""
