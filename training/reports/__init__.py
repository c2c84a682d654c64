"""Reports of a model version: one merchant's (`les explain`) and the global one (`les report`), their figures and templates."""
