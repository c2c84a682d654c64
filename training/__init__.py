"""Dataset -> LightGBM forecaster, backtest, MLflow tracking and registry, SHAP reports."""
