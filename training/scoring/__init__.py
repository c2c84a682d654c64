"""Batch scoring: rows chosen by snapshot, scored in chunks on pandas or Dask (`les score`)."""
