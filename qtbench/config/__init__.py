"""Configuration: structured schemas, Hydra composition, validation and the run identity hash."""
