"""Watching a deployed model: input and prediction drift, realized accuracy, alerts, retraining."""
