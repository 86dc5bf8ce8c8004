"""What a driver's apps do, for people and tests: ``zapcharge zap``."""
