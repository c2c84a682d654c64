"""Order events -> validated contract -> stage features, LES rulebook and labels."""
