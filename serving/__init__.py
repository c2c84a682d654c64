"""BentoML HTTP service for the registered LES forecaster."""
